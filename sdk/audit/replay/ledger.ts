/**
 * The replay's ledger: every holder's units per lot and every lot's supply, moved by the ERC-1155
 * transfers, and the classified movements it reports to `onMovement`.
 */
import type { Address } from "viem";
import { getOrInsert } from "../../getOrInsert.js";
import { lotClassId } from "../../lotId.js";
import type { AuditEventPosition } from "../events.js";
import type { FindFn, Movement, MovementKind } from "./types.js";

const fmt = (n: bigint | number) => n.toLocaleString("en-US");

export class Ledger {
  /** holder → lot → units. Pairs stay once touched (a zero is compared with the chain too). */
  readonly balances = new Map<Address, Map<bigint, bigint>>();
  readonly lotSupply = new Map<bigint, bigint>();

  constructor(
    private readonly find: FindFn,
    private readonly onMovement?: (m: Movement) => void,
  ) {}

  balanceOf(holder: Address, lotId: bigint): bigint {
    return this.balances.get(holder)?.get(lotId) ?? 0n;
  }

  credit(holder: Address, lotId: bigint, amount: bigint): void {
    const m = getOrInsert(this.balances, holder, () => new Map<bigint, bigint>());
    m.set(lotId, (m.get(lotId) ?? 0n) + amount);
  }

  /** Takes units from a holder; taking more than it holds is a finding. */
  debit(holder: Address, lotId: bigint, amount: bigint, pos: AuditEventPosition): void {
    const m = getOrInsert(this.balances, holder, () => new Map<bigint, bigint>());
    const have = m.get(lotId) ?? 0n;
    if (have < amount) {
      this.find("balance", `${holder} moved ${fmt(amount)} units of lot ${lotId} holding only ${fmt(have)}`, pos);
    }
    m.set(lotId, have - amount);
  }

  mint(to: Address, lotId: bigint, amount: bigint): void {
    this.credit(to, lotId, amount);
    this.lotSupply.set(lotId, (this.lotSupply.get(lotId) ?? 0n) + amount);
  }

  burn(from: Address, lotId: bigint, amount: bigint, pos: AuditEventPosition): void {
    this.debit(from, lotId, amount, pos);
    this.lotSupply.set(lotId, (this.lotSupply.get(lotId) ?? 0n) - amount);
  }

  /** Reports one classified movement. */
  emit(kind: MovementKind, holder: Address, lotId: bigint, amount: bigint, pos: AuditEventPosition, extra: Partial<Movement> = {}): void {
    if (!this.onMovement) return;
    this.onMovement({
      kind,
      holder,
      lotId,
      classId: lotClassId(lotId),
      amount,
      blockNumber: pos.blockNumber,
      timestamp: pos.timestamp,
      txHash: pos.transactionHash,
      ...extra,
    });
  }
}
