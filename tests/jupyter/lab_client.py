"""Drives a running `candlelit lab` the way JupyterLab's browser side does: REST API and kernel websocket.

Usage: lab_client.py BASE_URL TOKEN. Prints one JSON object with what it saw; exits non-zero on a failure.
"""

import json
import sys
import uuid

import requests
import websocket


def main(base, token):
    headers = {"Authorization": f"token {token}"}
    specs = requests.get(f"{base}/api/kernelspecs", headers=headers, timeout=30)
    specs.raise_for_status()
    spec = specs.json()["kernelspecs"].get("candlelit")
    seen = {"kernelspecs": sorted(specs.json()["kernelspecs"]), "display_name": spec and spec["spec"]["display_name"]}

    started = requests.post(f"{base}/api/kernels", headers=headers, json={"name": "candlelit"}, timeout=60)
    started.raise_for_status()
    kernel_id = started.json()["id"]
    ws_url = base.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels?token={token}"
    ws = websocket.create_connection(ws_url, timeout=600)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                   "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": "let t = Tensor::ones((2, 3), DType::F32, &device()?)?;\nt.sum_all()?.to_scalar::<f32>()?",
                    "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
                    "stop_on_error": True},
    }))
    outputs = []
    # The reply (shell) and the outputs (iopub) travel on different channels: wait for both the reply and the
    # kernel going idle, which comes after the cell's last output.
    idle = False
    while not (idle and "status" in seen):
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "execute_result":
            seen["result"] = msg["content"]["data"]["text/plain"]
        elif kind in ("stream", "error", "display_data"):
            outputs.append(msg["content"])
        elif kind == "execute_reply":
            seen["status"] = msg["content"]["status"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    seen["outputs"] = outputs
    ws.close()
    requests.delete(f"{base}/api/kernels/{kernel_id}", headers=headers, timeout=60).raise_for_status()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
