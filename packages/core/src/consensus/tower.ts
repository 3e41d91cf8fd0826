import type { vote } from "@simd23/proto";

/**
 * Tower BFT lockouts, as Solana's vote state keeps them. A vote on slot s locks the validator
 * out of every fork that does not contain s until slot + 2^confirmationCount; each later vote
 * stacked on top doubles the lockouts below it, and the bottom lockout becomes the root once
 * it reaches maxLockoutHistory confirmations.
 */

export type Lockout = vote.Lockout;

/** A validator's lockouts, oldest (bottom) first, and its root (null before the first root). */
export interface Tower {
  readonly lockouts: readonly Lockout[];
  readonly root: number | null;
}

export const EMPTY_TOWER: Tower = { lockouts: [], root: null };

/** The last slot a lockout still locks: slot + 2^confirmationCount. */
export function lockoutExpiry(lockout: Lockout): number {
  return lockout.slot + 2 ** lockout.confirmationCount;
}

/** A lockout has expired at slot once slot is past its expiry. */
export function isExpiredAt(lockout: Lockout, slot: number): boolean {
  return lockoutExpiry(lockout) < slot;
}

export function lastVotedSlot(tower: Tower): number | null {
  return tower.lockouts.at(-1)?.slot ?? null;
}

export type TowerRefusal = "not-newer" | "locked-out";

export class TowerError extends Error {
  constructor(
    readonly code: TowerRefusal,
    message: string,
  ) {
    super(message);
    this.name = "TowerError";
  }
}

export type TowerVoteResult =
  | { readonly ok: true; readonly tower: Tower; readonly newRoot: number | null }
  | { readonly ok: false; readonly error: TowerError };

// Expired lockouts leave from the top only, as in Solana: a lockout below an unexpired one stays.
function popExpired(lockouts: readonly Lockout[], slot: number): Lockout[] {
  let depth = lockouts.length;
  while (depth > 0 && isExpiredAt(lockouts[depth - 1]!, slot)) depth--;
  return lockouts.slice(0, depth);
}

/**
 * Why the tower refuses a vote on slot, or null when it allows it. `ancestorsOfSlot` is the set of
 * strict ancestors of slot on its fork, down to (at least) the tower's root.
 */
export function voteRefusal(
  tower: Tower,
  slot: number,
  ancestorsOfSlot: ReadonlySet<number>,
): TowerError | null {
  const last = lastVotedSlot(tower);
  if (last !== null && slot <= last)
    return new TowerError("not-newer", `slot ${slot} is not newer than the last vote ${last}`);
  if (tower.root !== null) {
    if (slot <= tower.root)
      return new TowerError("not-newer", `slot ${slot} is not newer than the root ${tower.root}`);
    if (!ancestorsOfSlot.has(tower.root))
      return new TowerError("locked-out", `slot ${slot} does not descend from the root ${tower.root}`);
  }
  for (const lockout of popExpired(tower.lockouts, slot)) {
    if (!ancestorsOfSlot.has(lockout.slot)) {
      return new TowerError(
        "locked-out",
        `slot ${slot} is on another fork than slot ${lockout.slot}, locked out through ${lockoutExpiry(lockout)}`,
      );
    }
  }
  return null;
}

/** Whether the tower forbids a vote on slot (it is not newer, or a lockout on another fork holds). */
export function isLockedOut(tower: Tower, slot: number, ancestorsOfSlot: ReadonlySet<number>): boolean {
  return voteRefusal(tower, slot, ancestorsOfSlot) !== null;
}

/**
 * The tower after voting on slot: pop the expired lockouts from the top, push slot with one
 * confirmation, then give one more confirmation to every lockout at index i (from the bottom)
 * with depth > i + confirmationCount — the stack must grow past a lockout's confirmations before
 * it doubles again. A bottom lockout that reaches maxLockoutHistory confirmations becomes the root.
 * Refused (tower unchanged) when {@link voteRefusal} names a reason.
 */
export function recordTowerVote(
  tower: Tower,
  slot: number,
  ancestorsOfSlot: ReadonlySet<number>,
  maxLockoutHistory: number,
): TowerVoteResult {
  const refusal = voteRefusal(tower, slot, ancestorsOfSlot);
  if (refusal !== null) return { ok: false, error: refusal };
  const stacked = popExpired(tower.lockouts, slot);
  stacked.push({ slot, confirmationCount: 1 });
  const depth = stacked.length;
  let lockouts = stacked.map((lockout, i) =>
    depth > i + lockout.confirmationCount
      ? { slot: lockout.slot, confirmationCount: lockout.confirmationCount + 1 }
      : lockout,
  );
  let root = tower.root;
  let newRoot: number | null = null;
  while (lockouts.length > 0 && lockouts[0]!.confirmationCount >= maxLockoutHistory) {
    newRoot = lockouts[0]!.slot;
    root = newRoot;
    lockouts = lockouts.slice(1);
  }
  return { ok: true, tower: { lockouts, root }, newRoot };
}

/** The tower a vote carries. */
export function towerOfVote(v: vote.Vote): Tower {
  return { lockouts: v.tower, root: v.hasRoot ? v.root : null };
}

/**
 * Why a tower cannot be the result of honest voting on voteSlot, or null when its shape is valid:
 * at most maxLockoutHistory − 1 lockouts, slots strictly increasing, confirmation counts strictly
 * decreasing from 1 to maxLockoutHistory − 1 with the vote slot on top at 1, and the root below
 * every lockout. With maxLockoutHistory 1 every vote roots at once: the tower is empty and its
 * root is the vote slot.
 */
export function towerShapeProblem(tower: Tower, voteSlot: number, maxLockoutHistory: number): string | null {
  const { lockouts, root } = tower;
  const top = lockouts.at(-1);
  if (top === undefined) {
    return maxLockoutHistory === 1 && root === voteSlot ? null : "the tower is empty";
  }
  if (lockouts.length > maxLockoutHistory - 1)
    return `the tower holds ${lockouts.length} lockouts, at most ${maxLockoutHistory - 1} are possible`;
  if (top.slot !== voteSlot || top.confirmationCount !== 1)
    return `the top lockout must be the vote slot ${voteSlot} with 1 confirmation`;
  for (let i = 0; i < lockouts.length; i++) {
    const lockout = lockouts[i]!;
    if (lockout.confirmationCount < 1 || lockout.confirmationCount > maxLockoutHistory - 1)
      return `lockout ${i} has ${lockout.confirmationCount} confirmations`;
    const above = lockouts[i + 1];
    if (above !== undefined) {
      if (above.slot <= lockout.slot) return `lockout slots are not increasing at ${i}`;
      if (above.confirmationCount >= lockout.confirmationCount)
        return `confirmation counts are not decreasing at ${i}`;
    }
  }
  if (root !== null && root >= lockouts[0]!.slot) return `the root ${root} is not below the lockouts`;
  return null;
}
