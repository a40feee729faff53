// Types of sluice.js, the browser client of the Sluice hub (served beside it at {BASE}sluice.d.ts).

export type Transport = 'ws' | 'sse' | 'poll';
export type TransportChoice = 'auto' | Transport;

export interface Backoff {
  /** First delay cap, ms (default 500). */
  min: number;
  /** Largest delay cap, ms (default 15000). */
  max: number;
  /** Cap growth per attempt (default 2). Delay = random(0, min(max, min * factor^(attempt-1))). */
  factor: number;
  /** Reconnection attempts in a row before status 'failed' (default Infinity). */
  maxAttempts: number;
}

export interface Timeouts {
  /** A WebSocket not open by then counts as blocked (ms, default 4000). */
  wsOpen: number;
  /** An SSE response with no body byte by then counts as buffered (ms, default 3000). */
  sseFirstByte: number;
  /** Time on a fallback transport before the better ones are tried again (ms, default 30000; 0 = never). */
  upgradeRetry: number;
  /** Long-poll wait, seconds (default 25; the hub caps it at 25). */
  pollWait: number;
  /** Time allowed for a plain request's answer: publish, probe, long-poll beyond its wait (ms, default 10000). */
  request: number;
}

export interface HubOptions {
  /** URL prefix of the hub's routes (default: the directory of the page, e.g. `/rt/`). */
  base?: string;
  /** JWT sent as `?token=` on every request. */
  token?: string | null;
  /** Default transport of subscriptions (default 'auto'). */
  transport?: TransportChoice;
  backoff?: Partial<Backoff>;
  timeouts?: Partial<Timeouts>;
  /** Where persistKey cursors live (default sessionStorage; null: nowhere). */
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
  /** Most publishes queued or in flight (default 1000); beyond, publish() rejects (code 'queue_full'). */
  maxQueue?: number;
}

export interface SluiceEvent {
  /** The event's cursor: resuming "after this event" means passing it as the cursor. */
  id: string;
  /** The event type ('message' by default). */
  event: string;
  data: string;
}

export type Status =
  | { state: 'idle' }
  | { state: 'connecting'; transport: Transport; /** failed attempts so far (0 on a first try) */ attempt: number }
  | { state: 'open'; transport: Transport }
  | { state: 'reconnecting'; attempt: number; /** ms until the next try */ delay: number; why: string; transport: Transport }
  | { state: 'fallback'; from: Transport; to: Transport; why: string }
  | { state: 'offline' }
  | { state: 'failed'; why: string }
  /** The topic ended (see SubscribeOptions.onEnd): final, like 'failed' and 'closed'. `id` is
   * the end's cursor (also `Subscription.cursor`). */
  | { state: 'ended'; id: string | null }
  | { state: 'closed' };

/** The end of a topic (`POST /close/{topic}`): nothing comes after it. */
export interface End {
  /** The end's cursor (the subscription's last position; kept under persistKey, so a reload
   * resumes at the end and gets it again at once). null only if the hub never sent a cursor. */
  id: string | null;
}

/** A subscriber present on a topic (join/leave notices, the presence list). */
export interface Member {
  /** Its client id (`client` option, `?client=`; made up by the hub when absent). */
  client: string;
  /** The `sub` of its token; null without auth or without `sub`. */
  sub: string | null;
  transport: Transport;
  /** Since when (Unix ms): the hub's time in a list read with `presence()`, the arrival of the
   * join notice for a member seen joining. */
  since: number;
}

/** `GET /presence/{topic}`: who is subscribed (on that hub process), oldest first. One client id
 * on several connections counts once. */
export interface PresenceList {
  count: number;
  clients: Member[];
}

/** An ephemeral event: live subscribers only, never stored, no id, no cursor. */
export interface EphemeralEvent {
  event: string;
  data: string;
}

export interface SubscribeOptions {
  /** 'now' (default: live, from the hub's head), 'earliest' (oldest retained), or an event id. */
  cursor?: 'now' | 'earliest' | string;
  /** Overrides the hub's default transport. */
  transport?: TransportChoice;
  /** Overrides the hub's backoff. */
  backoff?: Partial<Backoff>;
  /** Keep the cursor in storage under this key after every event and start from it next time. */
  persistKey?: string;
  /** Every event, exactly once, in order. */
  onEvent?: (e: SluiceEvent) => void;
  /** `missed` events were lost (out of the hub's retention) right before the next one. */
  onGap?: (missed: number) => void;
  /** The hub lost its history (new epoch): events restart from the oldest of the new one. */
  onReset?: () => void;
  onStatus?: (s: Status) => void;
  /**
   * The topic ended (after its last event, on every transport: WebSocket `{"end":true}`, SSE
   * `event: sluice-end` or a 204 for a request resuming at the end, long-poll `"end": true`).
   * Called once; the status is then 'ended' and the subscription is over: no reconnect, no
   * fallback or upgrade, `close()` does nothing. With persistKey the end's id is kept, so the
   * next document's subscription gets the end at once (and no event again).
   */
  onEnd?: (end: End) => void;
  /** The id this subscription is present under (`?client=` on every connection; 1-64 of
   * A-Z a-z 0-9 _ -, else subscribe() throws code 'bad_client_id'). Default: 16 random hex
   * digits, kept across reconnects and transport switches (a reconnect is not a new member). */
  client?: string;
  /** Ask for join/leave notices (`?presence=1`, WebSocket and SSE) and keep `members`: the list
   * is read (`GET /presence`) on every (re)connect and kept up to date with the notices; on
   * long-poll (no notices) it is read again every 15 s. */
  presence?: boolean;
  /** A join notice (with presence; the subscriber's own comes first). Raw: members already there
   * when it connected are not announced (see onPresence / members). */
  onJoin?: (m: Member) => void;
  /** A leave notice (with presence). */
  onLeave?: (m: Member) => void;
  /** The list of who is there, whenever it changes (with presence). */
  onPresence?: (members: Member[]) => void;
  /** An ephemeral event on the topic (WebSocket and SSE subscriptions, with or without presence;
   * including the subscriber's own). Never moves the cursor, never replayed. */
  onEphemeral?: (e: EphemeralEvent) => void;
}

export interface PublishOptions {
  /** Event type (default 'message'). */
  event?: string;
  /** Live subscribers only (`POST /publish/{topic}?ephemeral=1`): never stored, never queued,
   * never retried; rejected at once while offline (code 'offline'). Sent one at a time, in
   * call order. */
  ephemeral?: boolean;
}

export class SluiceError extends Error {
  constructor(message: string, status?: number, code?: string);
  /** HTTP status of the hub's answer, 0 for an error of this client. */
  status: number;
  /** The hub's `error` code (e.g. 'ended': a publish to a topic that has ended, HTTP 409), or 'queue_full' / 'unreachable' / 'offline' / 'bad_client_id'. */
  code: string;
}

export class Subscription {
  readonly topic: string;
  /** The transport chosen ('auto' or a fixed one). */
  readonly mode: TransportChoice;
  /** The transport in use (or being tried). */
  readonly transport: Transport;
  /** The position: id of the last event (or head cursor, or the end) seen; null before any. */
  readonly cursor: string | null;
  readonly status: Status;
  /** The client id it is present under. */
  readonly client: string;
  /** True once the topic's end was received (status 'ended', onEnd called). */
  readonly ended: boolean;
  readonly presence: boolean;
  /** Who is there (with presence), oldest first; kept while reconnecting, read again after. */
  readonly members: Member[];
  /** Stops the subscription (status 'closed'); does nothing once it ended or failed. */
  close(): void;
}

export class SluiceHub {
  constructor(opts?: HubOptions);
  /** The resolved base URL, ending in '/'. */
  readonly base: string;
  readonly online: boolean;
  /** Publishes queued or in flight. */
  readonly queued: number;
  subscribe(topic: string, opts?: SubscribeOptions): Subscription;
  /**
   * POST `data` to `topic` with an Idempotency-Key kept across retries. Queued (in order) while
   * offline or unreachable; network errors, 408, 429, 5xx retried with backoff; other 4xx
   * reject with a SluiceError (409 code 'ended': the topic has ended).
   */
  publish(topic: string, data: string, opts?: PublishOptions & { ephemeral?: false }): Promise<{ id: string | null }>;
  /**
   * An ephemeral publish: to the topic's live WebSocket/SSE subscribers on that hub process
   * (`receivers` of them), never stored. Not queued, not retried: rejects while offline (code
   * 'offline'), on a network error (code 'unreachable') or with the hub's refusal.
   */
  publish(topic: string, data: string, opts: PublishOptions & { ephemeral: true }): Promise<{ ephemeral: true; receivers: number }>;
  /** Who is subscribed to `topic` (`GET /presence/{topic}`; needs subscribe permission). */
  presence(topic: string): Promise<PresenceList>;
  /** URL of a route for a topic, with the token. */
  url(kind: 'ws' | 'sse' | 'poll' | 'publish' | 'presence', topic: string, params?: Record<string, string | number | null | undefined>): string;
  /** Closes every subscription and rejects queued publishes. */
  close(): void;
}
