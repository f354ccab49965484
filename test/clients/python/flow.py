"""The whole flow with Debian's python3-requests, written as the README's snippets are."""
import json
import os
import time

import requests

base_url = os.environ["API_BASE_URL"]
token = os.environ["API_TOKEN"]
size = int(os.environ.get("PDF_BYTES", str(3 * 1024 * 1024)))
auth = {"Authorization": f"Bearer {token}"}
steps = {}


def check(condition, what):
    if not condition:
        raise SystemExit(f"Flow failed: {what}")


head, tail = b"%PDF-1.7\n1 0 obj <<>> endobj\n%", b"\ntrailer <<>>\n%%EOF\n"
pdf = head + b" " * (size - len(head) - len(tail)) + tail


def upload():
    r = requests.post(f"{base_url}/files/upload", headers=auth,
                      files={"file": ("lab-report.pdf", pdf, "application/pdf")}, timeout=60)
    check(r.status_code == 201, f"upload answered {r.status_code}: {r.text}")
    return r


uploaded = upload()
steps["upload"] = uploaded.status_code
body = uploaded.json()
check(body["contentType"] == "application/pdf" and body["size"] == len(pdf), "the upload answer describes the PDF")
check(uploaded.headers["Location"] == body["url"], "Location is the url of the answer")
file_url = f"{base_url}{body['url']}"

r = requests.head(file_url, headers=auth, timeout=30)
steps["head"] = r.status_code
check(r.headers["Content-Length"] == str(len(pdf)), "HEAD gives the size")

r = requests.get(file_url, headers=auth, timeout=60)
steps["download"] = r.status_code
steps["downloadedEqual"] = r.content == pdf

r = requests.delete(file_url, headers=auth, timeout=30)
steps["deleteFile"] = r.status_code
r = requests.get(file_url, headers=auth, timeout=30)
check(r.status_code == 404 and r.json()["statusCode"] == 404, "a deleted file is 404 with a JSON body")

linked = upload().json()
patient_id = f"pt-{int(time.time() * 1000)}"
fhir = {**auth, "Content-Type": "application/fhir+json"}
r = requests.post(f"{base_url}/fhir/DocumentReference", headers=fhir, timeout=30, data=json.dumps({
    "status": "current",
    "type": {"coding": [{"system": "http://loinc.org", "code": "11502-2", "display": "Laboratory report"}]},
    "subjectId": patient_id,
    "date": "2026-04-21",
    "content": [{"attachment": {"contentType": linked["contentType"], "url": linked["url"],
                                "title": "Lab report", "size": linked["size"]}}],
}))
steps["create"] = r.status_code
created, etag = r.json(), r.headers["ETag"]
resource_url = r.headers["Location"]
check(resource_url.endswith(f"/fhir/DocumentReference/{created['id']}"), "Location names the resource")

r = requests.get(f"{base_url}/fhir/DocumentReference", headers=auth, params={"patient": patient_id, "_count": 10}, timeout=30)
steps["search"] = r.status_code
bundle = r.json()
steps["searchTotal"] = bundle["total"]
check(bundle["entry"][0]["resource"]["id"] == created["id"], "the search finds the DocumentReference")

r = requests.put(resource_url, headers={**fhir, "If-Match": etag}, data=json.dumps({**created, "description": "Reviewed"}), timeout=30)
steps["update"] = r.status_code
check(r.json()["meta"]["versionId"] == "2", "the update is version 2")
r = requests.put(resource_url, headers={**fhir, "If-Match": etag}, data=json.dumps({**created, "description": "Lost"}), timeout=30)
steps["staleUpdate"] = r.status_code
check(r.json()["resourceType"] == "OperationOutcome", "a stale If-Match gets an OperationOutcome")

r = requests.get(f"{resource_url}/files/content", headers=auth, allow_redirects=False, timeout=30)
steps["redirect"] = r.status_code
presigned_url = r.headers["Location"]
r = requests.get(presigned_url, timeout=60)
steps["signed"] = r.status_code
steps["signedEqual"] = r.content == pdf
r = requests.get(f"{resource_url}/files/content", headers=auth, timeout=60)
steps["followed"] = r.status_code
steps["followedEqual"] = r.content == pdf

r = requests.delete(resource_url, headers=auth, timeout=30)
steps["deleteResource"] = r.status_code
steps["readDeleted"] = requests.get(resource_url, headers=auth, timeout=30).status_code
print(json.dumps(steps))
