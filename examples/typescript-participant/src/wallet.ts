/** Account balances in memory. New accounts open with `openingBalance`. */
export class Wallet {
  private readonly balances = new Map<string, number>();

  constructor(private readonly openingBalance: number) {}

  balance(account: string): number {
    return this.balances.get(account) ?? this.openingBalance;
  }

  /** Adds `amount` (negative to take) and returns the new balance. */
  adjust(account: string, amount: number): number {
    const next = this.balance(account) + amount;
    this.balances.set(account, next);
    return next;
  }
}
