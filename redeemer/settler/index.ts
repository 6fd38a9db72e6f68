export { buildReceipt, type ReceiptInput } from "./receipt.js";
export { ReceiptStore, type StoredReceipt } from "./receiptStore.js";
export { Settler, type SettlerOptions } from "./settler.js";
export { type SentTx, TxSender, type TxSenderContext } from "./txSender.js";
