export { buildReceipt, encodeReceipt, RECEIPT_VERSION, type ReceiptInput, type UsageReceipt } from "./receipt.js";
export { ReceiptStore, type StoredReceipt } from "./receiptStore.js";
export { Settler, type SettlerOptions } from "./settler.js";
export { type SentTx, TxSender, type TxSenderContext } from "./txSender.js";
