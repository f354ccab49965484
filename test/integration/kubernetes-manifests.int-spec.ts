import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { loadConfig } from '@app/config';

/*
 * The Kubernetes manifests (deploy/kubernetes, deploy/clamav), checked offline: every overlay is
 * rendered with `kubectl kustomize` as an operator would apply it, every object is validated
 * against the Kubernetes API schemas (kubernetes-models), and the deployment policies are
 * asserted on the rendered objects. Each policy is a function that lists violations; the last
 * block breaks a copy of the rendered manifests in one way per policy and expects the policy to
 * report it, so a check that could never fail would show up there.
 */

/** Jest runs from the repository root (rootDir '.'), as `npm test` does. */
const ROOT = process.cwd();
const OVERLAYS_DIR = join(ROOT, 'deploy/kubernetes/overlays');
const CLAMD_CONF = join(ROOT, 'deploy/clamav/clamd.conf');
/** The image's "node" user (node:24-bookworm-slim), which docker/Dockerfile runs as. */
const API_UID = 1000;
const API_GID = 1000;
/** The service's upload limit by default (MAX_UPLOAD_BYTES, 50 MiB). */
const DEFAULT_MAX_UPLOAD_BYTES = 52_428_800;
/** The service's HTTP request timeout (a slow 50 MB upload), which the ingress must outlast. */
const REQUEST_TIMEOUT_SECONDS = 300;
/** Seconds between the end of SHUTDOWN_TIMEOUT_SECONDS and SIGKILL, for the process to exit. */
const GRACE_MARGIN_SECONDS = 10;

// ------------------------------------------------------------------ rendering

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}
type Rendered = K8sObject[];

async function render(dir: string): Promise<Rendered> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('kubectl is not on PATH: these tests render the overlays with `kubectl kustomize`');
    throw new Error(`kubectl kustomize ${dir} failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
  const objects: Rendered = [];
  for (const doc of parseAllDocuments(stdout)) {
    if (doc.errors.length > 0) throw new Error(`${dir}: YAML error: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

const overlayNames = readdirSync(OVERLAYS_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(OVERLAYS_DIR, e.name, 'kustomization.yaml')))
  .map((e) => e.name)
  .sort();

// ------------------------------------------------------------------ helpers

const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const ofKind = <T>(objects: Rendered, kind: string): Array<T & K8sObject> =>
  objects.filter((o) => o.kind === kind) as Array<T & K8sObject>;
const named = <T>(objects: Rendered, kind: string, name: string): (T & K8sObject) | undefined =>
  ofKind<T>(objects, kind).find((o) => o.metadata.name === name);

interface PodTemplate {
  owner: string;
  ownerKind: string;
  spec: IPodSpec;
}

/** Every pod that the objects would create, with the object that owns its template. */
function podTemplates(objects: Rendered): PodTemplate[] {
  const pods: PodTemplate[] = [];
  for (const o of objects) {
    const spec = o.spec as { template?: { spec?: IPodSpec }; jobTemplate?: { spec?: { template?: { spec?: IPodSpec } } } } | undefined;
    const pod = o.kind === 'CronJob' ? spec?.jobTemplate?.spec?.template?.spec : spec?.template?.spec;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'].includes(o.kind) && pod) {
      pods.push({ owner: id(o), ownerKind: o.kind, spec: pod });
    }
    if (o.kind === 'Pod') pods.push({ owner: id(o), ownerKind: 'Pod', spec: o.spec as IPodSpec });
  }
  return pods;
}

const allContainers = (pod: IPodSpec): IContainer[] => [...(pod.initContainers ?? []), ...pod.containers];
const isApiImage = (image: string | undefined) => /(^|\/)clinical-attachments(:|@|$)/.test(image ?? '');

/** The service's own containers (the api, the migration Job), with the pod they run in. */
function apiContainers(objects: Rendered): Array<{ pod: PodTemplate; container: IContainer }> {
  return podTemplates(objects).flatMap((pod) =>
    pod.spec.containers.filter((c) => isApiImage(c.image)).map((container) => ({ pod, container })),
  );
}

/** The service's settings as its container gets them from ConfigMaps (envFrom and env). */
function settingsOf(objects: Rendered, container: IContainer): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef) continue;
    const map = named<IConfigMap>(objects, 'ConfigMap', source.configMapRef.name ?? '');
    if (!map) throw new Error(`envFrom names ConfigMap ${source.configMapRef.name}, which the overlay does not render`);
    Object.assign(settings, map.data ?? {});
  }
  for (const e of container.env ?? []) if (e.value !== undefined) settings[e.name] = e.value;
  return settings;
}

/** The ConfigMaps that the service's containers read their environment from. */
function apiConfigMaps(objects: Rendered): Array<IConfigMap & K8sObject> {
  const names = new Set(apiContainers(objects).flatMap(({ container }) =>
    (container.envFrom ?? []).flatMap((s) => (s.configMapRef?.name ? [s.configMapRef.name] : []))));
  return ofKind<IConfigMap>(objects, 'ConfigMap').filter((m) => names.has(m.metadata.name));
}

/** A Kubernetes quantity (250m, 1Gi, 640Mi, 2) as a number of units. */
function quantity(q: string | number | undefined): number {
  if (q === undefined) return NaN;
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) return NaN;
  const unit = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/** A size as nginx or clamd write it (60m, 60M, 512k, 1g), in bytes. */
function sizeInBytes(value: string | undefined): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(value?.trim() ?? '');
  if (!m) return NaN;
  return Number(m[1]) * ({ k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[m[2]!.toLowerCase()] ?? 1);
}

/** The container port a probe (or a Service's targetPort) names, by number or by name. */
function resolvePort(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return container.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** The settings of a clamd.conf: directive -> value (the last one wins, as in clamd). */
function clamdDirectives(conf: string): Map<string, string> {
  const directives = new Map<string, string>();
  for (const line of conf.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*?)\s*$/.exec(line);
    if (m && !line.trim().startsWith('#')) directives.set(m[1]!, m[2]!);
  }
  return directives;
}

/** The variables the service accepts: every key of .env.example. */
const SERVICE_VARIABLES = new Set(
  readFileSync(join(ROOT, '.env.example'), 'utf8').split('\n').flatMap((l) => /^([A-Z][A-Z0-9_]*)=/.exec(l)?.[1] ?? []),
);
/** The AWS SDK's standard settings, which the S3 store passes through to the SDK. */
const AWS_SDK_VARIABLES = new Set([
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION',
  'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3',
  'AWS_MAX_ATTEMPTS', 'AWS_RETRY_MODE', 'AWS_STS_REGIONAL_ENDPOINTS', 'AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', 'AWS_CA_BUNDLE',
]);

/** The environment docker/Dockerfile gives the service (ENV of its last stage). */
function imageEnvironment(): Record<string, string> {
  const dockerfile = readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lastStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of lastStage.split('\n')) {
    if (!line.startsWith('ENV ')) continue;
    for (const pair of line.slice(4).trim().split(/\s+/)) {
      const [k, ...v] = pair.split('=');
      env[k!] = v.join('=');
    }
  }
  return env;
}

// ------------------------------------------------------------------ schema validation

/** kubernetes-models' JSON-schema check of each object, by its apiVersion and kind. */
async function schemaViolations(objects: Rendered): Promise<string[]> {
  const problems: string[] = [];
  for (const o of objects) {
    let model: { new (data: unknown): { validate(): void }; apiVersion: string; kind: string } | undefined;
    try {
      const module = (await import(`kubernetes-models/${o.apiVersion}/${o.kind}`)) as Record<string, unknown>;
      model = module[o.kind] as typeof model;
    } catch {
      /* reported below */
    }
    if (!model || model.apiVersion !== o.apiVersion || model.kind !== o.kind) {
      problems.push(`${id(o)}: no Kubernetes schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new model(o).validate();
    } catch (e) {
      problems.push(`${id(o)}: ${(e as Error).message}`);
    }
  }
  return problems;
}

/**
 * The JSON schemas of the Kubernetes OpenAPI do not refuse unknown fields, so a misspelt field
 * (`readinesProbe`) would pass them and be dropped by the API server. kubernetes-models' types
 * declare every field: each object, written as a TypeScript literal of its type, must compile
 * (TypeScript refuses unknown properties of object literals at any depth).
 */
function unknownFieldViolations(objects: Rendered): string[] {
  const file = join(ROOT, 'test/integration/__rendered-manifests__.ts');
  const source = objects
    .map((o, i) => `export const o${i}: import("kubernetes-models/${o.apiVersion}/${o.kind}").I${o.kind} = ${JSON.stringify(o)};`)
    .join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, source, language) : getSourceFile.call(host, name, language, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const owner = objects[line] ? id(objects[line]!) : 'manifests';
    return `${owner}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

// ------------------------------------------------------------------ policies

type Policy = (objects: Rendered) => string[];

/** Every long-running container that serves a port has probes on it; the service's are on its real routes. */
const probes: Policy = (objects) => {
  const problems: string[] = [];
  for (const pod of podTemplates(objects).filter((p) => p.ownerKind !== 'Job' && p.ownerKind !== 'CronJob')) {
    for (const c of pod.spec.containers) {
      const where = `${pod.owner} container ${c.name}`;
      const port = (p: IProbe | undefined) => resolvePort(c, p?.httpGet?.port ?? p?.tcpSocket?.port ?? p?.grpc?.port);
      // A container that serves nothing (freshclam beside clamd) has no port to probe.
      if (!c.ports?.length) continue;
      for (const [kind, p] of [['liveness', c.livenessProbe], ['readiness', c.readinessProbe], ['startup', c.startupProbe]] as const) {
        if (!p) problems.push(`${where}: no ${kind} probe`);
        else if (p.exec === undefined && port(p) === undefined) problems.push(`${where}: ${kind} probe on a port the container does not declare`);
      }
      if (!isApiImage(c.image)) continue;
      const settings = settingsOf(objects, c);
      const servicePort = Number(settings.PORT ?? imageEnvironment().PORT ?? 3000);
      if (c.livenessProbe?.httpGet?.path !== '/health/live') problems.push(`${where}: liveness probe is not GET /health/live`);
      if (c.readinessProbe?.httpGet?.path !== '/health/ready') problems.push(`${where}: readiness probe is not GET /health/ready`);
      if (!['/health/live', '/health/ready'].includes(c.startupProbe?.httpGet?.path ?? '')) {
        problems.push(`${where}: startup probe is not GET /health/live or /health/ready`);
      }
      for (const [kind, p] of [['liveness', c.livenessProbe], ['readiness', c.readinessProbe], ['startup', c.startupProbe]] as const) {
        if (p && port(p) !== servicePort) problems.push(`${where}: ${kind} probe is not on the service's port ${servicePort}`);
      }
      // The readiness checks are bounded to 3 s each by the service: the probe must wait longer.
      if ((c.readinessProbe?.timeoutSeconds ?? 1) <= 3) problems.push(`${where}: readiness timeoutSeconds must exceed the service's 3 s checks`);
    }
  }
  return problems;
};

/** Non-root with numeric ids, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp. */
const securityContexts: Policy = (objects) => {
  const problems: string[] = [];
  for (const pod of podTemplates(objects)) {
    const podContext = pod.spec.securityContext ?? {};
    if (pod.spec.hostNetwork || pod.spec.hostPID || pod.spec.hostIPC) problems.push(`${pod.owner}: uses a host namespace`);
    for (const c of allContainers(pod.spec)) {
      const where = `${pod.owner} container ${c.name}`;
      const sc = c.securityContext ?? {};
      const runAsNonRoot = sc.runAsNonRoot ?? podContext.runAsNonRoot;
      const runAsUser = sc.runAsUser ?? podContext.runAsUser;
      const runAsGroup = sc.runAsGroup ?? podContext.runAsGroup;
      const seccomp = sc.seccompProfile?.type ?? podContext.seccompProfile?.type;
      if (runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot is not true`);
      if (!Number.isInteger(runAsUser) || runAsUser! <= 0) problems.push(`${where}: runAsUser is not a numeric non-root uid`);
      if (!Number.isInteger(runAsGroup) || runAsGroup! <= 0) problems.push(`${where}: runAsGroup is not a numeric non-root gid`);
      if (isApiImage(c.image) && (runAsUser !== API_UID || runAsGroup !== API_GID)) {
        problems.push(`${where}: the image's node user is ${API_UID}:${API_GID}, not ${runAsUser}:${runAsGroup}`);
      }
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
      if (sc.privileged) problems.push(`${where}: privileged`);
      if (!sc.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities do not drop ALL`);
      if ((sc.capabilities?.add ?? []).length > 0) problems.push(`${where}: adds capabilities ${sc.capabilities!.add!.join(', ')}`);
      if (seccomp !== 'RuntimeDefault') problems.push(`${where}: seccomp profile is ${seccomp ?? 'unset'}, not RuntimeDefault`);
    }
  }
  return problems;
};

/** No pod gets a Kubernetes API token: not from its spec, not from its ServiceAccount. */
const serviceAccountTokens: Policy = (objects) => {
  const problems: string[] = [];
  const accounts = ofKind<IServiceAccount>(objects, 'ServiceAccount');
  for (const account of accounts) {
    if (account.automountServiceAccountToken !== false) problems.push(`${id(account)}: automountServiceAccountToken is not false`);
  }
  for (const pod of podTemplates(objects)) {
    if (pod.spec.automountServiceAccountToken !== false) problems.push(`${pod.owner}: automountServiceAccountToken is not false`);
    const name = pod.spec.serviceAccountName;
    if (!name || !accounts.some((a) => a.metadata.name === name)) {
      problems.push(`${pod.owner}: runs as ServiceAccount ${name ?? 'default'}, which the overlay does not define`);
    }
  }
  return problems;
};

/** Requests and limits, cpu and memory, for every container; requests within limits. */
const resources: Policy = (objects) => {
  const problems: string[] = [];
  for (const pod of podTemplates(objects)) {
    for (const c of allContainers(pod.spec)) {
      const where = `${pod.owner} container ${c.name}`;
      for (const r of ['cpu', 'memory']) {
        const request = quantity(c.resources?.requests?.[r]);
        const limit = quantity(c.resources?.limits?.[r]);
        if (!(request > 0)) problems.push(`${where}: no ${r} request`);
        if (!(limit > 0)) problems.push(`${where}: no ${r} limit`);
        if (request > limit) problems.push(`${where}: ${r} request above its limit`);
      }
    }
  }
  return problems;
};

/** Every image names a version: a tag other than latest, or a digest. */
const pinnedImages: Policy = (objects) =>
  podTemplates(objects).flatMap((pod) =>
    allContainers(pod.spec).flatMap((c) => {
      const image = c.image ?? '';
      const tag = /:([^/:@]+)$/.exec(image.split('@')[0]!)?.[1];
      return image.includes('@sha256:') || (tag !== undefined && tag !== 'latest')
        ? []
        : [`${pod.owner} container ${c.name}: image ${image || '(none)'} is not pinned to a version`];
    }),
  );

/** Names of settings that are secrets whatever their value. */
const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|^DATABASE_URL$/i;
/** Names with KEY in them that are identifiers, not key material. */
const NOT_SECRET_KEY_NAMES = new Set(['S3_SSE_KMS_KEY_ID']);
/** A connection URL that carries a password (postgres://user:password@host). */
const URL_WITH_PASSWORD = /\b(postgres(ql)?|mysql|redis|amqps?|mongodb(\+srv)?):\/\/[^\s:@/]+:[^\s@/]+@/i;

/** No secret in a ConfigMap, in a literal env value, or in a rendered Secret (secrets are the operator's). */
const noSecretsInConfig: Policy = (objects) => {
  const problems: string[] = [];
  const secretLike = (key: string, value: string) =>
    value !== '' && (SECRET_NAME.test(key) || (/KEY/i.test(key) && !NOT_SECRET_KEY_NAMES.has(key)));
  const valueProblems = (where: string, value: string) => [
    ...(URL_WITH_PASSWORD.test(value) ? [`${where}: holds a URL with a password`] : []),
    ...(/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value) ? [`${where}: holds a private key`] : []),
  ];
  for (const map of ofKind<IConfigMap>(objects, 'ConfigMap')) {
    for (const [key, value] of Object.entries({ ...map.data, ...map.binaryData })) {
      if (secretLike(key, value)) problems.push(`${id(map)}: ${key} is a secret`);
      problems.push(...valueProblems(`${id(map)} ${key}`, value));
    }
  }
  for (const pod of podTemplates(objects)) {
    for (const c of allContainers(pod.spec)) {
      for (const e of c.env ?? []) {
        if (e.value !== undefined && secretLike(e.name, e.value)) problems.push(`${pod.owner} container ${c.name}: ${e.name} is a secret written in the manifest`);
        if (e.value !== undefined) problems.push(...valueProblems(`${pod.owner} container ${c.name} ${e.name}`, e.value));
      }
    }
  }
  for (const secret of ofKind<{ data?: object; stringData?: object }>(objects, 'Secret')) {
    if (Object.keys({ ...secret.data, ...secret.stringData }).length > 0) problems.push(`${id(secret)}: secret values in the repository`);
  }
  return problems;
};

/** The pod outlives the preStop sleep, the drain and the longest wait for requests in flight. */
const gracePeriod: Policy = (objects) => {
  const problems: string[] = [];
  for (const { pod, container } of apiContainers(objects)) {
    if (pod.ownerKind === 'Job' || pod.ownerKind === 'CronJob') continue;
    const where = `${pod.owner} container ${container.name}`;
    const settings = settingsOf(objects, container);
    const drain = Number(settings.SHUTDOWN_DRAIN_SECONDS ?? 5);
    const timeout = Number(settings.SHUTDOWN_TIMEOUT_SECONDS ?? 300);
    const preStop = container.lifecycle?.preStop?.sleep?.seconds;
    if (!(typeof preStop === 'number' && preStop > 0)) problems.push(`${where}: no preStop sleep (endpoints must go before SIGTERM)`);
    const needed = (preStop ?? 0) + drain + timeout + GRACE_MARGIN_SECONDS;
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    if (grace < needed) {
      problems.push(`${where}: terminationGracePeriodSeconds ${grace} < preStop ${preStop ?? 0} + drain ${drain} + timeout ${timeout} + margin ${GRACE_MARGIN_SECONDS}`);
    }
  }
  return problems;
};

/** The paths the Ingress may route; everything else (/metrics, /health/*) stays in the cluster. */
const PUBLIC_PREFIXES = ['/files', '/fhir', '/signed-files', '/docs'];
const PUBLIC_EXACT = ['/', '/whoami', '/openapi.json'];
const PRIVATE_PATHS = ['/metrics', '/health', '/health/live', '/health/ready'];

/** Whether an Ingress path matches a request path, as the Ingress API defines Exact and Prefix. */
function ingressMatches(path: string, pathType: string, request: string): boolean {
  if (pathType === 'Exact') return request === path;
  const base = path.replace(/\/+$/, '');
  return base === '' || request === base || request.startsWith(`${base}/`);
}

/** Only the public paths, streaming 50 MB uploads, timeouts beyond the service's. */
const ingressRoutes: Policy = (objects) => {
  const problems: string[] = [];
  for (const ingress of ofKind<IIngress>(objects, 'Ingress')) {
    const where = id(ingress);
    const annotations = ingress.metadata.annotations ?? {};
    if (ingress.spec?.defaultBackend) problems.push(`${where}: a defaultBackend routes every path, /metrics included`);
    if (annotations['nginx.ingress.kubernetes.io/use-regex'] === 'true') problems.push(`${where}: regex paths`);
    for (const rule of ingress.spec?.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const path = p.path ?? '/';
        const allowed = p.pathType === 'Exact' ? PUBLIC_EXACT.includes(path) || PUBLIC_PREFIXES.includes(path)
          : p.pathType === 'Prefix' ? PUBLIC_PREFIXES.includes(path) : false;
        if (!allowed) problems.push(`${where}: routes ${p.pathType} ${path}, which is not one of the public paths`);
        for (const privatePath of PRIVATE_PATHS) {
          if (ingressMatches(path, p.pathType, privatePath)) problems.push(`${where}: exposes ${privatePath} (${p.pathType} ${path})`);
        }
      }
    }
    if (!(sizeInBytes(annotations['nginx.ingress.kubernetes.io/proxy-body-size']) >= 60 * 2 ** 20)) {
      problems.push(`${where}: proxy-body-size below 60m (50 MB uploads)`);
    }
    if (annotations['nginx.ingress.kubernetes.io/proxy-request-buffering'] !== 'off') problems.push(`${where}: uploads are buffered by the controller`);
    for (const t of ['proxy-read-timeout', 'proxy-send-timeout']) {
      if (!(Number(annotations[`nginx.ingress.kubernetes.io/${t}`]) > REQUEST_TIMEOUT_SECONDS)) {
        problems.push(`${where}: ${t} does not outlast the ${REQUEST_TIMEOUT_SECONDS} s request timeout`);
      }
    }
  }
  return problems;
};

/** Every variable set for the service is one it accepts (.env.example, or a standard AWS SDK one). */
const knownSettings: Policy = (objects) =>
  apiConfigMaps(objects).flatMap((map) =>
    Object.keys(map.data ?? {})
      .filter((key) => !SERVICE_VARIABLES.has(key) && !AWS_SDK_VARIABLES.has(key))
      .map((key) => `${id(map)}: ${key} is not a setting of the service (.env.example)`),
  );

/**
 * The service starts with this configuration: the image's environment, then the ConfigMaps,
 * then the documented keys of the Secret a container reads (placeholders), through the
 * service's own validation.
 */
const SECRET_PLACEHOLDERS: Record<string, string> = { DATABASE_URL: 'postgres://attachments:placeholder@postgres:5432/attachments' };
const serviceAcceptsConfig: Policy = (objects) =>
  apiContainers(objects).flatMap(({ pod, container }) => {
    const secrets = (container.envFrom ?? []).some((s) => s.secretRef) ? SECRET_PLACEHOLDERS : {};
    try {
      loadConfig({ ...imageEnvironment(), ...settingsOf(objects, container), ...secrets });
      return [];
    } catch (e) {
      return [`${pod.owner} container ${container.name}: the service refuses its configuration: ${(e as Error).message}`];
    }
  });

/** Each pod is selected by a NetworkPolicy; the api's admits only its port, from the ingress and monitoring namespaces. */
const API_EGRESS = ['53/UDP', '53/TCP', '5432/TCP', '443/TCP', '3310/TCP'];
const networkPolicies: Policy = (objects) => {
  const problems: string[] = [];
  const policies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
  const selects = (policy: INetworkPolicy, labels: Record<string, string>) =>
    Object.entries(policy.spec?.podSelector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  for (const o of objects) {
    const labels = (o.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template?.metadata?.labels;
    if (labels && !policies.some((p) => selects(p, labels) && p.spec?.policyTypes?.includes('Ingress') && p.spec?.policyTypes?.includes('Egress'))) {
      problems.push(`${id(o)}: its pods are not restricted by a NetworkPolicy (ingress and egress)`);
    }
  }
  for (const { pod, container } of apiContainers(objects)) {
    if (pod.ownerKind !== 'Deployment') continue;
    const deployment = objects.find((o) => id(o) === pod.owner)!;
    const labels = (deployment.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    const port = Number(settingsOf(objects, container).PORT ?? 3000);
    for (const policy of policies.filter((p) => selects(p, labels))) {
      for (const rule of policy.spec?.ingress ?? []) {
        if (!rule.ports?.length || rule.ports.some((p) => p.port !== port && p.port !== 'http')) {
          problems.push(`${id(policy)}: admits other ports than ${port}`);
        }
        if (!rule.from?.length) problems.push(`${id(policy)}: admits any source`);
        for (const peer of rule.from ?? []) {
          const ns = peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
          if (peer.ipBlock || !ns || !['ingress-nginx', 'monitoring'].includes(ns)) {
            problems.push(`${id(policy)}: admits a source outside the ingress-nginx and monitoring namespaces`);
          }
        }
      }
      for (const rule of policy.spec?.egress ?? []) {
        if (!rule.ports?.length) problems.push(`${id(policy)}: an egress rule without ports`);
        for (const p of rule.ports ?? []) {
          const port = `${String(p.port)}/${p.protocol ?? 'TCP'}`;
          if (!API_EGRESS.includes(port)) problems.push(`${id(policy)}: egress to port ${port}`);
        }
      }
    }
  }
  return problems;
};

/** clamd scans whole uploads and says so when it cannot; it reads that configuration. */
const clamdConfig: Policy = (objects) => {
  const problems: string[] = [];
  const maps = ofKind<IConfigMap>(objects, 'ConfigMap').filter((m) => m.data?.['clamd.conf'] !== undefined);
  const maxUpload = Math.max(DEFAULT_MAX_UPLOAD_BYTES, ...apiConfigMaps(objects).map((m) => Number(m.data?.MAX_UPLOAD_BYTES ?? 0)));
  const clamavPort = apiConfigMaps(objects).map((m) => m.data?.CLAMAV_PORT).find((p) => p !== undefined) ?? '3310';
  for (const map of maps) {
    const conf = clamdDirectives(map.data!['clamd.conf']!);
    const where = `${id(map)} clamd.conf`;
    if (!(sizeInBytes(conf.get('StreamMaxLength')) >= maxUpload)) problems.push(`${where}: StreamMaxLength below ${maxUpload} bytes`);
    for (const yes of ['AlertExceedsMax', 'ScanArchive', 'ScanPDF', 'Foreground']) {
      if (conf.get(yes)?.toLowerCase() !== 'yes') problems.push(`${where}: ${yes} is not yes`);
    }
    if (conf.get('TCPSocket') !== clamavPort) problems.push(`${where}: TCPSocket is not ${clamavPort} (CLAMAV_PORT)`);
  }
  // The clamd container must read that file, not the image's own.
  for (const pod of podTemplates(objects)) {
    const runsClamd = (c: IContainer) => c.command?.[0] === 'clamd' || (/(^|\/)clamav\/clamav[:@]/.test(c.image ?? '') && c.name === 'clamd');
    for (const c of pod.spec.containers.filter(runsClamd)) {
      const configFile = c.command?.find((a) => a.startsWith('--config-file='))?.slice('--config-file='.length);
      const mount = c.volumeMounts?.find((m) => configFile?.startsWith(`${m.mountPath}/`));
      const volume = pod.spec.volumes?.find((v) => v.name === mount?.name);
      const map = maps.find((m) => m.metadata.name === volume?.configMap?.name);
      if (!map || configFile !== `${mount!.mountPath}/clamd.conf`) problems.push(`${pod.owner} container ${c.name}: does not run on the clamd.conf ConfigMap`);
    }
  }
  return problems;
};

/** Each Service reaches a declared port of the pods it selects; the service's own listens on 80 -> PORT. */
const services: Policy = (objects) => {
  const problems: string[] = [];
  for (const service of ofKind<IService>(objects, 'Service')) {
    const selector = service.spec?.selector ?? {};
    const pods = podTemplates(objects).filter((p) => {
      const owner = objects.find((o) => id(o) === p.owner)!;
      const labels = (owner.spec as { template?: { metadata?: { labels?: Record<string, string> } } }).template?.metadata?.labels ?? {};
      return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
    });
    if (pods.length === 0) problems.push(`${id(service)}: selects no pod of the overlay`);
    for (const port of service.spec?.ports ?? []) {
      const target = port.targetPort ?? port.port;
      const reached = pods.flatMap((p) => p.spec.containers.map((c) => ({ c, n: resolvePort(c, target) }))).filter((x) => x.n !== undefined);
      if (pods.length > 0 && reached.length === 0) problems.push(`${id(service)}: port ${port.port} targets ${String(target)}, which its pods do not declare`);
      for (const { c, n } of reached) {
        if (isApiImage(c.image) && (port.port !== 80 || n !== Number(settingsOf(objects, c).PORT ?? 3000))) {
          problems.push(`${id(service)}: the service is on ${port.port} -> ${n}, not 80 -> PORT`);
        }
      }
    }
  }
  return problems;
};

const POLICIES: Record<string, Policy> = {
  services,
  probes,
  securityContexts,
  serviceAccountTokens,
  resources,
  pinnedImages,
  noSecretsInConfig,
  gracePeriod,
  ingressRoutes,
  knownSettings,
  serviceAcceptsConfig,
  networkPolicies,
  clamdConfig,
};

// ------------------------------------------------------------------ the profiles

interface DeploymentShape {
  spec: { replicas?: number; strategy?: { type?: string }; template: { metadata?: { labels?: Record<string, string> }; spec: IPodSpec } };
}
const apiDeployment = (objects: Rendered) =>
  ofKind<DeploymentShape>(objects, 'Deployment').find((d) => d.spec.template.spec.containers.some((c) => isApiImage(c.image)));
const apiSettings = (objects: Rendered) => {
  const container = apiDeployment(objects)?.spec.template.spec.containers.find((c) => isApiImage(c.image));
  return container ? settingsOf(objects, container) : {};
};

/** Production: 3 replicas at least, Postgres + S3 + clamd, migrations by a Job. */
const productionProfile: Policy = (objects) => {
  const problems: string[] = [];
  const deployment = apiDeployment(objects);
  if (!deployment) return ['no Deployment of the service'];
  const hpa = ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler')
    .find((h) => h.spec?.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === deployment.metadata.name);
  const replicas = hpa ? hpa.spec?.minReplicas ?? 1 : deployment.spec.replicas ?? 1;
  if (replicas !== 3) problems.push(`runs ${replicas} replicas at least, not 3`);
  if (hpa && deployment.spec.replicas !== undefined && deployment.spec.replicas !== replicas) {
    problems.push(`Deployment replicas ${deployment.spec.replicas} fights the autoscaler's minimum ${replicas}`);
  }
  const podLabels = deployment.spec.template.metadata?.labels ?? {};
  const pdbs = ofKind<{ spec?: { selector?: { matchLabels?: Record<string, string> } } }>(objects, 'PodDisruptionBudget');
  if (!pdbs.some((pdb) => Object.entries(pdb.spec?.selector?.matchLabels ?? {}).every(([k, v]) => podLabels[k] === v))) {
    problems.push('no PodDisruptionBudget for the service');
  }
  const settings = apiSettings(objects);
  const expect = { NODE_ENV: 'production', SCAN_REQUIRED: 'true', MIGRATE_ON_START: 'false', STORAGE_DRIVER: 's3', LOG_FORMAT: 'json', TRUST_PROXY: 'true' };
  for (const [key, value] of Object.entries(expect)) if (settings[key] !== value) problems.push(`${key} is ${settings[key] ?? 'unset'}, not ${value}`);
  if (!/^https:\/\/[^/]/.test(settings.PUBLIC_BASE_URL ?? '')) problems.push('PUBLIC_BASE_URL is not an https URL');
  if (!settings.S3_BUCKET || !settings.AWS_REGION) problems.push('S3_BUCKET and AWS_REGION are not both set');
  const clamd = named<IService>(objects, 'Service', settings.CLAMAV_HOST ?? '');
  if (!clamd?.spec?.ports?.some((p) => String(p.port) === (settings.CLAMAV_PORT ?? '3310'))) {
    problems.push(`CLAMAV_HOST ${settings.CLAMAV_HOST ?? '(unset)'} is not a Service of the overlay on CLAMAV_PORT`);
  }
  const api = deployment.spec.template.spec.containers.find((c) => isApiImage(c.image))!;
  if (!api.envFrom?.some((s) => s.secretRef?.name)) problems.push('the service reads no Secret (DATABASE_URL)');
  const jobs = ofKind<IJob>(objects, 'Job').filter((j) =>
    j.spec?.template.spec?.containers.some((c) => [...(c.command ?? []), ...(c.args ?? [])].some((a) => a.endsWith('dist/apps/api/src/migrate.js'))));
  if (jobs.length !== 1) problems.push(`${jobs.length} Jobs run dist/apps/api/src/migrate.js, not 1`);
  for (const job of jobs) {
    const c = job.spec!.template.spec!.containers[0]!;
    if (c.image !== api.image) problems.push(`${id(job)}: image ${c.image} is not the service's ${api.image}`);
    if (JSON.stringify(c.envFrom) !== JSON.stringify(api.envFrom)) problems.push(`${id(job)}: does not read the service's ConfigMap and Secret`);
    if (job.spec!.backoffLimit === undefined) problems.push(`${id(job)}: no backoffLimit`);
    if (job.spec!.ttlSecondsAfterFinished === undefined) problems.push(`${id(job)}: no ttlSecondsAfterFinished`);
    // The first step of a rollout applies only the objects labelled for it: all that the Job needs.
    const phase = Object.entries(job.metadata.labels ?? {}).find(([k]) => k.endsWith('/apply-phase'));
    if (!phase) {
      problems.push(`${id(job)}: no apply-phase label, so it cannot be applied (and awaited) before the rollout`);
      continue;
    }
    const pod = job.spec!.template.spec!;
    const needs = [
      ...(c.envFrom ?? []).flatMap((s) => (s.configMapRef?.name ? [`ConfigMap/${s.configMapRef.name}`] : [])),
      `ServiceAccount/${pod.serviceAccountName ?? 'default'}`,
      ...(job.metadata.namespace ? [`Namespace/${job.metadata.namespace}`] : []),
      ...ofKind<INetworkPolicy>(objects, 'NetworkPolicy')
        .filter((p) => Object.entries(p.spec?.podSelector?.matchLabels ?? {}).every(([k, v]) => job.spec!.template.metadata?.labels?.[k] === v))
        .map(id),
    ];
    for (const need of needs) {
      const object = objects.find((o) => id(o) === need);
      if (object?.metadata.labels?.[phase[0]] !== phase[1]) problems.push(`${need}, which ${id(job)} needs, is not labelled ${phase[0]}=${phase[1]}`);
    }
  }
  return problems;
};

/** Demo: one pod, the embedded database and file store on a persistent volume, no ClamAV, no Job. */
const demoProfile: Policy = (objects) => {
  const problems: string[] = [];
  const deployment = apiDeployment(objects);
  if (!deployment) return ['no Deployment of the service'];
  if (deployment.spec.replicas !== 1) problems.push(`replicas ${deployment.spec.replicas ?? '(unset)'}, not 1`);
  if (deployment.spec.strategy?.type !== 'Recreate') problems.push('two pods would share the ReadWriteOnce volume during a rollout (strategy is not Recreate)');
  if (ofKind(objects, 'HorizontalPodAutoscaler').length > 0) problems.push('an autoscaler would start a second pod on the single-writer database');
  const settings = apiSettings(objects);
  for (const key of ['DATABASE_URL', 'CLAMAV_HOST']) if (settings[key]) problems.push(`${key} is set`);
  if ((settings.STORAGE_DRIVER ?? 'fs') !== 'fs') problems.push('STORAGE_DRIVER is not fs');
  if (ofKind(objects, 'Job').length > 0) problems.push('a migration Job (the embedded database migrates itself)');
  const dataDir = settings.DATA_DIR ?? imageEnvironment().DATA_DIR;
  const api = deployment.spec.template.spec.containers.find((c) => isApiImage(c.image))!;
  const mount = api.volumeMounts?.find((m) => m.mountPath === dataDir);
  const volume = deployment.spec.template.spec.volumes?.find((v) => v.name === mount?.name);
  const claim = volume?.persistentVolumeClaim?.claimName;
  if (!claim || !named(objects, 'PersistentVolumeClaim', claim)) problems.push(`DATA_DIR ${dataDir} is not on a PersistentVolumeClaim of the overlay`);
  return problems;
};

// ------------------------------------------------------------------ tests

const rendered = new Map<string, Rendered>();

beforeAll(async () => {
  for (const [name, objects] of await Promise.all(overlayNames.map(async (n) => [n, await render(join(OVERLAYS_DIR, n))] as const))) {
    rendered.set(name, objects);
  }
}, 60_000);

const overlay = (name: string) => {
  const objects = rendered.get(name);
  if (!objects) throw new Error(`overlay ${name} was not rendered`);
  return objects;
};
/** A deep copy of an overlay's objects, to break in one place. */
const copyOf = (name: string): Rendered => structuredClone(overlay(name));

describe('Kubernetes manifests (kubectl kustomize, offline)', () => {
  it('has the demo and production overlays, each rendering without flags', () => {
    expect(overlayNames).toEqual(expect.arrayContaining(['demo', 'production']));
    for (const name of overlayNames) expect(overlay(name).length).toBeGreaterThan(5);
  });

  describe.each(overlayNames)('overlay %s', (name) => {
    it('every object is valid against the Kubernetes API schema (kubernetes-models)', async () => {
      expect(await schemaViolations(overlay(name))).toEqual([]);
    });

    it('no object has a field the Kubernetes API does not define', () => {
      expect(unknownFieldViolations(overlay(name))).toEqual([]);
    }, 30_000);

    it.each(Object.keys(POLICIES))('policy %s holds', (policy) => {
      expect(POLICIES[policy]!(overlay(name))).toEqual([]);
    });
  });

  it('production: 3 replicas, production settings, clamd in the cluster, a migration Job', () => {
    expect(productionProfile(overlay('production'))).toEqual([]);
    expect(ofKind(overlay('production'), 'ConfigMap').some((m) => (m as IConfigMap).data?.['clamd.conf'] !== undefined)).toBe(true);
  });

  it('demo: one pod, embedded database and files on a PersistentVolumeClaim, no ClamAV, no Job', () => {
    expect(demoProfile(overlay('demo'))).toEqual([]);
  });

  it('clamd.conf has one home, deploy/clamav, which docker compose mounts and the production overlay renders', () => {
    expect(existsSync(join(ROOT, 'docker/clamav/clamd.conf'))).toBe(false);
    expect(readFileSync(join(ROOT, 'docker/docker-compose.yml'), 'utf8')).toContain('../deploy/clamav/clamd.conf:/etc/clamav/clamd.conf:ro');
    const maps = ofKind<IConfigMap>(overlay('production'), 'ConfigMap').filter((m) => m.data?.['clamd.conf'] !== undefined);
    expect(maps.map((m) => m.data!['clamd.conf'])).toEqual([readFileSync(CLAMD_CONF, 'utf8')]);
  });

  it('every Secret the pods read is one the operator creates (documented keys), never a rendered one', () => {
    for (const name of overlayNames) {
      const secretNames = podTemplates(overlay(name)).flatMap((p) =>
        allContainers(p.spec).flatMap((c) => (c.envFrom ?? []).flatMap((s) => (s.secretRef?.name ? [s.secretRef.name] : []))));
      for (const secret of secretNames) {
        expect(named(overlay(name), 'Secret', secret)).toBeUndefined();
        expect(readFileSync(join(OVERLAYS_DIR, name, 'kustomization.yaml'), 'utf8')).toContain(secret);
      }
    }
  });
});

/**
 * Each check, run on a copy of the rendered manifests broken in one place, reports it: a check
 * that passes above is a check that could have failed.
 */
describe('each check catches a broken manifest', () => {
  type Breakage = [description: string, overlay: string, breakIt: (objects: Rendered) => void, check: Policy | 'schema' | 'fields', report: RegExp];
  const api = (objects: Rendered) => apiDeployment(objects)!.spec.template.spec;
  const apiContainer = (objects: Rendered) => api(objects).containers.find((c) => isApiImage(c.image))!;
  const configMap = (objects: Rendered) => apiConfigMaps(objects)[0]!;
  const ingress = (objects: Rendered) => ofKind<IIngress>(objects, 'Ingress')[0]!;
  const clamdConf = (objects: Rendered, edit: (conf: string) => string) => {
    const map = ofKind<IConfigMap>(objects, 'ConfigMap').find((m) => m.data?.['clamd.conf'] !== undefined)!;
    map.data!['clamd.conf'] = edit(map.data!['clamd.conf']!);
  };
  const job = (objects: Rendered) => ofKind<IJob>(objects, 'Job')[0]!.spec!.template.spec!;

  const breakages: Breakage[] = [
    ['a container port given as a string', 'production', (o) => { (apiContainer(o).ports![0] as { containerPort: unknown }).containerPort = '3000'; }, 'schema', /containerPort must be integer/],
    ['a container without a name', 'demo', (o) => { delete (apiContainer(o) as { name?: string }).name; }, 'schema', /required property name/],
    ['a misspelt field', 'production', (o) => { Object.assign(apiContainer(o), { readinesProbe: {} }); }, 'fields', /readinesProbe/],
    ['readiness on /health/live', 'production', (o) => { apiContainer(o).readinessProbe!.httpGet!.path = '/health/live'; }, probes, /readiness probe is not GET \/health\/ready/],
    ['liveness on /healthz', 'demo', (o) => { apiContainer(o).livenessProbe!.httpGet!.path = '/healthz'; }, probes, /liveness probe is not GET \/health\/live/],
    ['no startup probe', 'production', (o) => { delete apiContainer(o).startupProbe; }, probes, /no startup probe/],
    ['a probe on another port', 'production', (o) => { apiContainer(o).livenessProbe!.httpGet!.port = 8080; }, probes, /liveness probe on a port the container does not declare/],
    ['a clamd without a readiness probe', 'production', (o) => { delete named<DeploymentShape>(o, 'Deployment', 'clamd')!.spec.template.spec.containers[0]!.readinessProbe; }, probes, /clamd container clamd: no readiness probe/],
    ['a Service on the wrong target port', 'production', (o) => { named<IService>(o, 'Service', 'clinical-attachments')!.spec!.ports![0]!.targetPort = 8080; }, services, /targets 8080, which its pods do not declare/],
    ['a Service selecting nothing', 'production', (o) => { named<IService>(o, 'Service', 'clamd')!.spec!.selector = { 'app.kubernetes.io/name': 'clamav' }; }, services, /Service\/clamd: selects no pod/],
    ['runAsNonRoot off', 'production', (o) => { delete apiContainer(o).securityContext!.runAsNonRoot; delete api(o).securityContext!.runAsNonRoot; }, securityContexts, /runAsNonRoot is not true/],
    ['no numeric runAsUser', 'demo', (o) => { delete apiContainer(o).securityContext!.runAsUser; delete api(o).securityContext!.runAsUser; }, securityContexts, /runAsUser is not a numeric/],
    ['root', 'production', (o) => { job(o).containers[0]!.securityContext!.runAsUser = 0; }, securityContexts, /migrate: runAsUser is not a numeric non-root uid/],
    ['a writable root filesystem', 'production', (o) => { apiContainer(o).securityContext!.readOnlyRootFilesystem = false; }, securityContexts, /readOnlyRootFilesystem is not true/],
    ['privilege escalation', 'production', (o) => { delete job(o).containers[0]!.securityContext!.allowPrivilegeEscalation; }, securityContexts, /allowPrivilegeEscalation is not false/],
    ['capabilities kept', 'production', (o) => { named<DeploymentShape>(o, 'Deployment', 'clamd')!.spec.template.spec.initContainers![0]!.securityContext!.capabilities = { drop: ['NET_RAW'] }; }, securityContexts, /seed-signatures: capabilities do not drop ALL/],
    ['seccomp Unconfined', 'demo', (o) => { apiContainer(o).securityContext!.seccompProfile = { type: 'Unconfined' }; }, securityContexts, /seccomp profile is Unconfined/],
    ['an API token in the pod', 'production', (o) => { api(o).automountServiceAccountToken = true; }, serviceAccountTokens, /automountServiceAccountToken is not false/],
    ['an API token from the ServiceAccount', 'demo', (o) => { ofKind<IServiceAccount>(o, 'ServiceAccount')[0]!.automountServiceAccountToken = true; }, serviceAccountTokens, /ServiceAccount\/.*automountServiceAccountToken is not false/],
    ['no memory limit', 'production', (o) => { delete apiContainer(o).resources!.limits!.memory; }, resources, /no memory limit/],
    ['no cpu request on an init container', 'production', (o) => { delete named<DeploymentShape>(o, 'Deployment', 'clamd')!.spec.template.spec.initContainers![0]!.resources!.requests!.cpu; }, resources, /seed-signatures: no cpu request/],
    ['a request above its limit', 'demo', (o) => { apiContainer(o).resources!.requests!.memory = '2Gi'; }, resources, /memory request above its limit/],
    ['an image on latest', 'production', (o) => { apiContainer(o).image = 'registry.example.org/clinical-attachments:latest'; }, pinnedImages, /is not pinned/],
    ['an image without a tag', 'production', (o) => { job(o).containers[0]!.image = 'clinical-attachments'; }, pinnedImages, /is not pinned/],
    ['JWT_SECRET in the ConfigMap', 'production', (o) => { configMap(o).data!.JWT_SECRET = 'x'.repeat(40); }, noSecretsInConfig, /JWT_SECRET is a secret/],
    ['DATABASE_URL in the ConfigMap', 'demo', (o) => { configMap(o).data!.DATABASE_URL = 'postgres://db/attachments'; }, noSecretsInConfig, /DATABASE_URL is a secret/],
    ['AWS keys in the ConfigMap', 'production', (o) => { configMap(o).data!.AWS_ACCESS_KEY_ID = 'AKIA0000'; }, noSecretsInConfig, /AWS_ACCESS_KEY_ID is a secret/],
    ['a password inside a URL', 'production', (o) => { configMap(o).data!.PUBLIC_BASE_URL_ALIASES = 'postgresql://user:hunter2@db:5432/x'; }, noSecretsInConfig, /holds a URL with a password/],
    ['a password written into env', 'production', (o) => { apiContainer(o).env = [{ name: 'DB_PASSWORD', value: 'hunter2' }]; }, noSecretsInConfig, /DB_PASSWORD is a secret written in the manifest/],
    ['a Secret with values', 'production', (o) => { o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'clinical-attachments-secrets' }, stringData: { JWT_SECRET: 'x' } }); }, noSecretsInConfig, /secret values in the repository/],
    ['a grace period shorter than the drain', 'production', (o) => { api(o).terminationGracePeriodSeconds = 300; }, gracePeriod, /terminationGracePeriodSeconds 300 </],
    ['a longer SHUTDOWN_TIMEOUT_SECONDS', 'demo', (o) => { configMap(o).data!.SHUTDOWN_TIMEOUT_SECONDS = '600'; }, gracePeriod, /timeout 600/],
    ['no preStop sleep', 'production', (o) => { delete apiContainer(o).lifecycle; }, gracePeriod, /no preStop sleep/],
    ['/metrics on the Ingress', 'production', (o) => { ingress(o).spec!.rules![0]!.http!.paths.push({ path: '/metrics', pathType: 'Prefix', backend: ingress(o).spec!.rules![0]!.http!.paths[0]!.backend }); }, ingressRoutes, /exposes \/metrics/],
    ['/ as a prefix', 'demo', (o) => { ingress(o).spec!.rules![0]!.http!.paths.find((p) => p.path === '/')!.pathType = 'Prefix'; }, ingressRoutes, /exposes \/health\/ready \(Prefix \/\)/],
    ['/health on the Ingress', 'production', (o) => { ingress(o).spec!.rules![0]!.http!.paths[0]!.path = '/health'; }, ingressRoutes, /exposes \/health\/live/],
    ['a default backend', 'production', (o) => { ingress(o).spec!.defaultBackend = ingress(o).spec!.rules![0]!.http!.paths[0]!.backend; }, ingressRoutes, /defaultBackend/],
    ['buffered uploads', 'production', (o) => { delete ingress(o).metadata.annotations!['nginx.ingress.kubernetes.io/proxy-request-buffering']; }, ingressRoutes, /buffered/],
    ['a 10m body limit', 'production', (o) => { ingress(o).metadata.annotations!['nginx.ingress.kubernetes.io/proxy-body-size'] = '10m'; }, ingressRoutes, /proxy-body-size below 60m/],
    ['a 60 s proxy timeout', 'demo', (o) => { ingress(o).metadata.annotations!['nginx.ingress.kubernetes.io/proxy-read-timeout'] = '60'; }, ingressRoutes, /proxy-read-timeout does not outlast/],
    ['a misspelt setting', 'production', (o) => { configMap(o).data!.MAX_CONCURENT_UPLOADS = '16'; }, knownSettings, /MAX_CONCURENT_UPLOADS is not a setting/],
    ['production without PUBLIC_BASE_URL', 'production', (o) => { delete configMap(o).data!.PUBLIC_BASE_URL; }, serviceAcceptsConfig, /requires PUBLIC_BASE_URL/],
    ['the demo left in production mode', 'demo', (o) => { delete configMap(o).data!.NODE_ENV; }, serviceAcceptsConfig, /requires DATABASE_URL/],
    ['a JWKS URL over http', 'production', (o) => { configMap(o).data!.JWT_JWKS_URL = 'http://idp.example.org/jwks.json'; }, serviceAcceptsConfig, /JWT_JWKS_URL must use https/],
    ['the api open to every namespace', 'production', (o) => { ofKind<INetworkPolicy>(o, 'NetworkPolicy').find((p) => p.metadata.name === 'clinical-attachments')!.spec!.ingress![0]!.from!.push({ namespaceSelector: {} }); }, networkPolicies, /outside the ingress-nginx and monitoring namespaces/],
    ['egress to any port', 'production', (o) => { ofKind<INetworkPolicy>(o, 'NetworkPolicy').find((p) => p.metadata.name === 'clinical-attachments')!.spec!.egress!.push({ ports: [{ port: 6379 }] }); }, networkPolicies, /egress to port 6379\/TCP/],
    ['clamd without a NetworkPolicy', 'production', (o) => { o.splice(o.findIndex((x) => x.kind === 'NetworkPolicy' && x.metadata.name === 'clamd'), 1); }, networkPolicies, /Deployment\/clamd: its pods are not restricted/],
    ['StreamMaxLength 25M', 'production', (o) => clamdConf(o, (c) => c.replace(/^StreamMaxLength .*$/m, 'StreamMaxLength 25M')), clamdConfig, /StreamMaxLength below 52428800/],
    ['AlertExceedsMax no', 'production', (o) => clamdConf(o, (c) => c.replace(/^AlertExceedsMax .*$/m, 'AlertExceedsMax no')), clamdConfig, /AlertExceedsMax is not yes/],
    ['clamd on the image default config', 'production', (o) => { const c = named<DeploymentShape>(o, 'Deployment', 'clamd')!.spec.template.spec.containers[0]!; c.command = ['clamd', '--foreground']; }, clamdConfig, /does not run on the clamd.conf ConfigMap/],
    ['production with 2 replicas', 'production', (o) => { ofKind<IHorizontalPodAutoscaler>(o, 'HorizontalPodAutoscaler')[0]!.spec!.minReplicas = 2; }, productionProfile, /runs 2 replicas at least, not 3/],
    ['production in development mode', 'production', (o) => { configMap(o).data!.NODE_ENV = 'development'; }, productionProfile, /NODE_ENV is development, not production/],
    ['production without scanning required', 'production', (o) => { configMap(o).data!.SCAN_REQUIRED = 'false'; }, productionProfile, /SCAN_REQUIRED is false/],
    ['production replicas migrating at start', 'production', (o) => { delete configMap(o).data!.MIGRATE_ON_START; }, productionProfile, /MIGRATE_ON_START is unset/],
    ['production without the migration Job', 'production', (o) => { o.splice(o.findIndex((x) => x.kind === 'Job'), 1); }, productionProfile, /0 Jobs run dist\/apps\/api\/src\/migrate.js/],
    ['the migration phase without the Job\'s ConfigMap', 'production', (o) => { delete configMap(o).metadata.labels!['clinical-attachments/apply-phase']; }, productionProfile, /ConfigMap\/clinical-attachments-config-\w+, which Job\/clinical-attachments-migrate needs, is not labelled/],
    ['the migration phase without the Namespace', 'production', (o) => { delete ofKind(o, 'Namespace')[0]!.metadata.labels!['clinical-attachments/apply-phase']; }, productionProfile, /Namespace\/clinical-attachments, which .* needs, is not labelled/],
    ['a migration Job on another image', 'production', (o) => { job(o).containers[0]!.image = 'registry.example.org/clinical-attachments:0.0.9'; }, productionProfile, /is not the service's/],
    ['demo with 2 replicas', 'demo', (o) => { apiDeployment(o)!.spec.replicas = 2; }, demoProfile, /replicas 2, not 1/],
    ['demo data on an emptyDir', 'demo', (o) => { api(o).volumes!.find((v) => v.name === 'data')!.persistentVolumeClaim = undefined; }, demoProfile, /not on a PersistentVolumeClaim/],
  ];

  it.each(breakages)('%s (%s)', async (_description, name, breakIt, check, report) => {
    const objects = copyOf(name);
    breakIt(objects);
    const problems = check === 'schema' ? await schemaViolations(objects)
      : check === 'fields' ? unknownFieldViolations(objects)
        : check(objects);
    expect(problems.join('\n')).toMatch(report);
  }, 30_000);
});
