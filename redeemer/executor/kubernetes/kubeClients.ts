/**
 * API clients for the executor, built from a KubeConfig with two additions the stock
 * `makeApiClient` lacks: every request carries a timeout and the executor's stop signal, and
 * all requests share one connection pool (the stock client builds a new one per request
 * whenever TLS options are set).
 */
import {
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
  ServerConfiguration,
  Watch,
  createConfiguration,
  type Middleware,
  type SecurityAuthentication,
} from "@kubernetes/client-node";

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

export const USER_AGENT = "ctk-redeemer";

/** KubeConfig authentication, with the first request's dispatcher reused by all later ones. */
class SharedPoolAuthentication implements SecurityAuthentication {
  private dispatcher: Dispatcher | undefined;
  private closed = false;

  constructor(private readonly kubeConfig: KubeConfig) {}

  getName(): string {
    return "kubeconfig, shared connection pool";
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await this.kubeConfig.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (!fresh || this.closed) return;
    if (!this.dispatcher) {
      this.dispatcher = fresh;
      return;
    }
    context.setDispatcher(this.dispatcher);
    // The fresh pool never opened a connection; release it.
    fresh.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    const dispatcher = this.dispatcher;
    this.dispatcher = undefined;
    await dispatcher?.destroy().catch(() => {});
  }
}

/** Sets each request's abort signal: its own timeout, or the executor stopping. */
function deadlineMiddleware(timeoutMs: number, stop: AbortSignal): Middleware {
  return {
    async pre(context: RequestContext): Promise<RequestContext> {
      context.setSignal(AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]));
      context.setHeaderParam("User-Agent", USER_AGENT);
      return context;
    },
    async post(context: ResponseContext): Promise<ResponseContext> {
      return context;
    },
  };
}

export interface KubeClients {
  batch: BatchV1Api;
  core: CoreV1Api;
  /**
   * Watches (their own connections, managed by the stock Watch, which ends a watch that has
   * been silent for 30 s; the watcher then lists and watches again).
   */
  watch: Watch;
  close(): Promise<void>;
}

export function createKubeClients(kubeConfig: KubeConfig, opts: { requestTimeoutMs: number; stop: AbortSignal }): KubeClients {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("KubeConfig has no current cluster");
  const auth = new SharedPoolAuthentication(kubeConfig);
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: auth },
    promiseMiddleware: [deadlineMiddleware(opts.requestTimeoutMs, opts.stop)],
  });
  const watch = new Watch(kubeConfig);
  return {
    batch: new BatchV1Api(configuration),
    core: new CoreV1Api(configuration),
    watch,
    close: () => auth.close(),
  };
}
