// The whole flow through the SDK @hey-api/openapi-ts generates (its fetch client).
// The test copies this file next to the generated code and type-checks it with strict.
import { client } from './generated/client.gen.js';
import {
  createDocumentReference, deleteDocumentReference, deleteFile, downloadFile, getDocumentReferenceContent, headFile,
  readDocumentReference, searchDocumentReference, updateDocumentReference, uploadFile, whoAmI,
} from './generated/sdk.gen.js';
import { check, flowEnvironment, labReport, report, sameBytes } from '../flow-support.js';

/** The SDK leaves `response` undefined when no answer came (a network error): that fails the step. */
function answered<T extends { response?: Response }>(result: T, step: string): asserts result is T & { response: Response } {
  check(result.response !== undefined, `${step}: no answer`);
}

const { baseUrl, token, pdfBytes } = flowEnvironment();
client.setConfig({ baseUrl, auth: () => token });
const steps: Record<string, number | string | boolean> = {};

const me = await whoAmI();
answered(me, 'me');
check(me.data !== undefined, `whoami answered ${me.response.status}`);
const orgId = me.data.organizationId;

const pdf = labReport(pdfBytes);
const uploaded = await uploadFile({ body: { file: pdf } });
answered(uploaded, 'uploaded');
check(uploaded.data !== undefined, `upload answered ${uploaded.response.status}`);
steps.upload = uploaded.response.status;
check(uploaded.data.contentType === 'application/pdf' && uploaded.data.size === pdf.size, 'the upload answer describes the PDF');
check(uploaded.response.headers.get('location') === uploaded.data.url, 'Location is the url of the answer');
const path = { orgId, fileName: uploaded.data.key.slice(orgId.length + 1) };

const head = await headFile({ path });
answered(head, 'head');
steps.head = head.response.status;
check(head.response.headers.get('content-length') === String(pdf.size), 'HEAD gives the size');

const download = await downloadFile({ path, parseAs: 'blob' });
answered(download, 'download');
check(download.data !== undefined, `download answered ${download.response.status}`);
steps.download = download.response.status;
steps.downloadedEqual = await sameBytes(download.data, pdf);

const removed = await deleteFile({ path });
answered(removed, 'removed');
steps.deleteFile = removed.response.status;
const gone = await downloadFile({ path });
answered(gone, 'gone');
check(gone.error !== undefined && gone.error.statusCode === 404, 'a deleted file is 404, with a typed error');

const linked = await uploadFile({ body: { file: pdf } });
answered(linked, 'linked');
check(linked.data !== undefined, `second upload answered ${linked.response.status}`);
const patientId = `pt-${Date.now()}`;
const created = await createDocumentReference({
  body: {
    status: 'current',
    type: { coding: [{ system: 'http://loinc.org', code: '11502-2', display: 'Laboratory report' }] },
    subjectId: patientId,
    date: '2026-04-21',
    content: [{ attachment: { contentType: linked.data.contentType, url: linked.data.url, title: 'Lab report', size: linked.data.size } }],
  },
});
answered(created, 'created');
check(created.data !== undefined, `create answered ${created.response.status}`);
steps.create = created.response.status;
const id = created.data.id;
check(id !== undefined, 'the created resource has an id');
check(created.response.headers.get('location')?.endsWith(`/fhir/DocumentReference/${id}`) === true, 'Location names the resource');
const etag = created.response.headers.get('etag');
check(etag !== null, 'create answers an ETag');

const found = await searchDocumentReference({ query: { patient: patientId, _count: 10 } });
answered(found, 'found');
check(found.data !== undefined, `search answered ${found.response.status}`);
steps.search = found.response.status;
steps.searchTotal = found.data.total ?? -1;
const first = found.data.entry?.[0]?.resource;
check(first?.resourceType === 'DocumentReference' && first.id === id, 'the search finds the DocumentReference, typed');

const updated = await updateDocumentReference({ path: { id }, headers: { 'If-Match': etag }, body: { ...created.data, description: 'Reviewed' } });
answered(updated, 'updated');
check(updated.data !== undefined, `update answered ${updated.response.status}`);
steps.update = updated.response.status;
check(updated.data.description === 'Reviewed' && updated.data.meta?.versionId === '2', 'the update is version 2');
const stale = await updateDocumentReference({ path: { id }, headers: { 'If-Match': etag }, body: { ...created.data, description: 'Lost update' } });
answered(stale, 'stale');
steps.staleUpdate = stale.response.status;
check(stale.error?.resourceType === 'OperationOutcome', 'a stale If-Match gets a typed OperationOutcome');

const redirect = await getDocumentReferenceContent({ path: { id }, redirect: 'manual' });
answered(redirect, 'redirect');
steps.redirect = redirect.response.status;
const signedUrl = redirect.response.headers.get('location');
check(signedUrl !== null, 'the 307 has a Location');
const fetched = await fetch(signedUrl);
steps.signed = fetched.status;
steps.signedEqual = await sameBytes(await fetched.blob(), pdf);

const deleted = await deleteDocumentReference({ path: { id } });
answered(deleted, 'deleted');
steps.deleteResource = deleted.response.status;
const read = await readDocumentReference({ path: { id } });
answered(read, 'read');
steps.readDeleted = read.response.status;
report(steps);
