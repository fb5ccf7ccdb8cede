/**
 * One route's view of the store: a PointQueue whose tokens are device tokens and whose points are the
 * route's own (its queue space, route-space.ts). The forwarder runs unchanged on it: per device and in
 * order, one delivery in flight per device, acknowledged or dead-lettered by the stored entries' ids.
 */
import type { KeyFilter, PendingBatch, PointQueue, QueueShare, StoreStats, TokenDenyList } from '../store/store.js';
import type { RouteSpace } from './route-space.js';

export class RouteQueue implements PointQueue, TokenDenyList {
  private readonly owns: KeyFilter;

  constructor(
    private readonly store: PointQueue & TokenDenyList,
    private readonly space: RouteSpace,
  ) {
    this.owns = space.owns;
  }

  append(token: string, records: Parameters<PointQueue['append']>[1]): Promise<void> {
    return this.store.append(this.space.key(token), records);
  }

  pendingTokens(limit: number, exclude?: ReadonlySet<string>): string[] {
    const keys = exclude && exclude.size > 0 ? new Set([...exclude].map((t) => this.space.key(t))) : undefined;
    return this.store.pendingTokens(limit, keys, this.owns).map((k) => this.space.token(k));
  }

  /** This route's depth (walks its devices: for status and metrics, not per message). */
  share(): QueueShare {
    return this.store.queueShare(this.owns);
  }

  queueShare(owns: KeyFilter): QueueShare {
    return this.store.queueShare((k) => this.owns(k) && owns(k));
  }

  forwardShare(): number {
    return this.store.forwardShare?.() ?? 1;
  }

  appendedAt(id: number): number | undefined {
    return this.store.appendedAt?.(id);
  }

  pendingBytes(token: string): number {
    return this.store.pendingBytes(this.space.key(token));
  }

  peek(token: string, maxBytes: number): PendingBatch | null {
    const b = this.store.peek(this.space.key(token), maxBytes);
    if (!b) return null;
    // The batch keeps its lazily parsed fields; only the token is the device's own.
    return Object.defineProperties(Object.create(b) as PendingBatch, { token: { value: token, enumerable: true } });
  }

  acknowledge(ids: number[]): Promise<void> {
    return this.store.acknowledge(ids);
  }

  deadLetter(ids: number[], reason: string, message: string): Promise<void> {
    return this.store.deadLetter(ids, reason, message);
  }

  /** This route's depth; `deadLetters` and `maxBytes` are the store's (one store holds every route). */
  stats(): StoreStats {
    const s = this.store.stats();
    const share = this.store.queueShare(this.owns);
    return { ...s, depthPoints: share.depthPoints, depthBytes: share.depthBytes, oldestAgeMs: share.oldestAgeMs };
  }

  onAppend(listener: () => void): void {
    this.store.onAppend(listener);
  }

  onSpace(listener: () => void): void {
    this.store.onSpace(listener);
  }

  hasRoom(bytes: number): boolean {
    return this.store.hasRoom(bytes);
  }

  refuseToken(token: string): Promise<void> {
    return this.store.refuseToken(token);
  }

  isRefused(token: string): boolean {
    return this.store.isRefused(token);
  }

  refusedTokens(): string[] {
    return this.store.refusedTokens();
  }
}
