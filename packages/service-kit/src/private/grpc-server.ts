import { performance } from "node:perf_hooks";
import {
  Metadata,
  type MethodDefinition,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServiceDefinition,
  status,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { type GrpcServiceRegistration, REASON_METADATA_KEY } from "../grpc.js";
import type { Logger } from "../logger.js";
import type { StandardMetrics } from "./standard-metrics.js";

const HEALTH_PATH_PREFIX = "/grpc.health.v1.Health/";
const MALFORMED_REASON = "MALFORMED";
/** After the last call finished, how long the graceful close may take before connections are cut. */
const SESSION_CLOSE_GRACE_MS = 1_000;

/** What a request deserializer returns in place of a message that does not decode. */
class MalformedRequest {
  constructor(readonly error: unknown) {}
}

type Callback = (error: unknown, value?: unknown, trailer?: Metadata, flags?: number) => void;
type EmittingCall = { emit(event: string | symbol, ...args: unknown[]): boolean };

/**
 * The gRPC server of a service. One interceptor sees every call: it refuses a request that does
 * not decode with INVALID_ARGUMENT and reason MALFORMED (grpc-js alone would answer INTERNAL),
 * counts calls by method and code, and tracks the calls in flight so shutdown can wait for them.
 * Health checks are neither counted nor waited for.
 */
export class GrpcServer {
  readonly server: Server;
  private readonly inFlight = new Map<number, string>();
  private nextCallId = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly metrics: StandardMetrics,
  ) {
    this.server = new Server({ interceptors: [this.interceptor] });
  }

  /** Binds `address:port` (port 0: any free port) and returns the bound port. */
  bind(address: string, port: number): Promise<number> {
    const host = address.includes(":") ? `[${address}]` : address;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, boundPort) =>
        error ? reject(error) : resolve(boundPort),
      );
    });
  }

  /** Registers a role service; returns its full name (e.g. `simd23.proposer.v1.ProposerService`). */
  addService(registration: GrpcServiceRegistration): string {
    const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
    const implementation: UntypedServiceImplementation = {};
    let serviceName: string | undefined;
    for (const [key, method] of Object.entries(registration.definition)) {
      const handler = registration.implementation[key];
      if (handler === undefined) throw new TypeError(`no implementation for ${method.path}`);
      serviceName ??= method.path.split("/")[1];
      definition[key] = { ...method, requestDeserialize: decodingOrMalformed(method.requestDeserialize) };
      implementation[key] = this.guardHandler(method, handler);
      // Every method's series exist from the start, so a dashboard's rate is 0 rather than absent.
      this.metrics.grpcRequests.inc({ method: method.path, code: status[status.OK] }, 0);
      this.metrics.grpcRequestDuration.zero({ method: method.path });
    }
    if (serviceName === undefined) throw new TypeError("a gRPC service needs at least one method");
    this.server.addService(definition as ServiceDefinition, implementation);
    return serviceName;
  }

  /** The methods of the calls in flight, for the shutdown report. */
  inFlightCalls(): string[] {
    return [...this.inFlight.values()];
  }

  /**
   * Stops taking calls, waits for the calls in flight to finish, then closes every connection
   * (health watches included, which would otherwise stay open forever).
   */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    await this.idle();
    await Promise.race([
      closed,
      new Promise((resolve) => setTimeout(resolve, SESSION_CLOSE_GRACE_MS).unref()),
    ]);
    this.server.forceShutdown();
  }

  /** Stops at once, cancelling calls in flight (used when start-up fails). */
  forceStop(): void {
    this.server.forceShutdown();
  }

  private idle(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private readonly interceptor: ServerInterceptor = (method, call) => {
    const path = method.path;
    const observed = !path.startsWith(HEALTH_PATH_PREFIX);
    const callId = this.nextCallId++;
    const startedAt = performance.now();
    if (observed) this.inFlight.set(callId, path);
    let finished = false;
    let refused = false;
    const finish = (code: status): void => {
      if (finished || !observed) return;
      finished = true;
      this.metrics.grpcRequests.inc({ method: path, code: status[code] ?? String(code) });
      this.metrics.grpcRequestDuration.observe({ method: path }, (performance.now() - startedAt) / 1000);
      this.inFlight.delete(callId);
      if (this.inFlight.size === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    };
    const intercepted: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            if (refused) return;
            if (!(message instanceof MalformedRequest)) {
              nextMessage(message);
              return;
            }
            refused = true;
            const detail = message.error instanceof Error ? message.error.message : String(message.error);
            this.logger.debug({ method: path, error: detail }, "refused a request that does not decode");
            const metadata = new Metadata();
            metadata.set(REASON_METADATA_KEY, MALFORMED_REASON);
            intercepted.sendStatus({
              code: status.INVALID_ARGUMENT,
              details: `the request does not decode as protobuf: ${detail}`,
              metadata,
            });
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!refused) nextHalfClose();
          },
          onCancel: () => finish(status.CANCELLED),
        }),
      sendStatus: (statusObject, nextStatus) => {
        finish(statusObject.code);
        nextStatus(statusObject);
      },
    });
    return intercepted;
  };

  /**
   * Lets a deliberate status (any error with a gRPC code, such as an RpcRejection) through as it
   * is; an error without a code is a bug: it is logged with its stack and answered INTERNAL.
   */
  private guardHandler(
    method: MethodDefinition<unknown, unknown>,
    handler: UntypedHandleCall,
  ): UntypedHandleCall {
    const toStatus = (error: unknown): unknown => {
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code === "number" && Number.isInteger(code)) return error;
      this.logger.error({ err: error, method: method.path }, "gRPC handler failed");
      const failure = new Error(error instanceof Error ? error.message : String(error));
      return Object.assign(failure, { code: status.INTERNAL });
    };
    if (!method.responseStream) {
      const respond = handler as (call: unknown, callback: Callback) => void;
      return ((call: unknown, callback: Callback) => {
        const guarded: Callback = (error, value, trailer, flags) =>
          error ? callback(toStatus(error), value, trailer, flags) : callback(null, value, trailer, flags);
        try {
          respond(call, guarded);
        } catch (error) {
          guarded(error);
        }
      }) as UntypedHandleCall;
    }
    const stream = handler as (call: EmittingCall) => void;
    return ((call: EmittingCall) => {
      const emit = call.emit.bind(call);
      call.emit = (event, ...args) =>
        event === "error" ? emit("error", toStatus(args[0])) : emit(event, ...args);
      try {
        stream(call);
      } catch (error) {
        call.emit("error", error);
      }
    }) as UntypedHandleCall;
  }
}

function decodingOrMalformed(deserialize: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (error) {
      return new MalformedRequest(error);
    }
  };
}
