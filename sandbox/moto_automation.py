"""SSM Automation in the emulator (docs/sandbox.md, "SSM Automation").

moto's SSM stores Automation documents but answers StartAutomationExecution with "not yet
implemented", so the switchover document the stack deploys could never run. This module gives moto's
SSM the calls an operator uses — StartAutomationExecution, GetAutomationExecution,
StopAutomationExecution, DescribeAutomationExecutions — and runs the deployed document the way SSM
Automation does:

- parameters are checked against the document's own `allowedPattern`s, defaults applied; a missing,
  unknown or non-matching one is refused (InvalidAutomationExecutionParametersException) and nothing
  runs;
- steps run in order on a thread of their own, `{{Param}}` and `{{step.Output}}` substituted;
  `aws:invokeLambdaFunction` invokes the function with Lambda's Invoke wire protocol at
  PGVIGIL_AUTOMATION_LAMBDA_ENDPOINT (the sandbox serves its functions there: moto's own Lambda
  needs Docker), `aws:executeScript` runs the Python handler in a `python3` of its own with the
  step's InputPayload as `events`; a failed step with `onFailure: Abort` (the default) fails the
  execution, `isEnd` ends it;
- the execution's status, its steps (inputs, outputs, failure message) and the document's
  `outputs` are answered by GetAutomationExecution.

Installed by sandbox/moto_server.py.
"""

import datetime
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.ssm.exceptions import SSMException
from moto.ssm.responses import SimpleSystemManagerResponse

LAMBDA_ENDPOINT_VARIABLE = "PGVIGIL_AUTOMATION_LAMBDA_ENDPOINT"
_LOCK = threading.Lock()
# (account, region) -> execution id -> execution
_EXECUTIONS = {}
_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)\s*\}\}")
# Runs an aws:executeScript handler: the script and handler name in argv, events as JSON on stdin.
_SCRIPT_HARNESS = """
import json, sys
namespace = {}
exec(compile(sys.argv[1], 'script', 'exec'), namespace)
result = namespace[sys.argv[2]](json.load(sys.stdin), None)
sys.stdout.write(json.dumps(result))
"""


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _executions(account, region):
    return _EXECUTIONS.setdefault((account, region), {})


def _substitute(value, values):
    """Replaces every {{Name}} / {{step.Output}} known in `values` (strings inside lists and maps too)."""
    if isinstance(value, str):
        return _REFERENCE.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    return value


def check_parameters(content, given):
    """The execution's parameters (name -> [value]) with defaults; every problem named at once."""
    declared = content.get("parameters") or {}
    problems = [f"unknown parameter {name}" for name in given if name not in declared]
    values = {}
    for name, spec in declared.items():
        value = given.get(name)
        if value is None:
            value = [spec["default"]] if "default" in spec else None
        if value is None:
            problems.append(f"missing parameter {name}")
            continue
        pattern = spec.get("allowedPattern")
        for item in value:
            if pattern and not re.search(pattern, item):
                problems.append(f"parameter {name} value {json.dumps(item)} does not match {pattern}")
        values[name] = value
    if problems:
        raise SSMException("InvalidAutomationExecutionParametersException", "; ".join(problems))
    return values


def _invoke_lambda(inputs, timeout):
    endpoint = os.environ.get(LAMBDA_ENDPOINT_VARIABLE)
    if not endpoint:
        raise RuntimeError(f"no Lambda endpoint: the emulator was started without {LAMBDA_ENDPOINT_VARIABLE}")
    name = urllib.parse.quote(str(inputs["FunctionName"]), safe="")
    request = urllib.request.Request(
        f"{endpoint.rstrip('/')}/2015-03-31/functions/{name}/invocations",
        data=str(inputs.get("Payload", "")).encode(),
        method="POST",
        headers={"X-Amz-Invocation-Type": inputs.get("InvocationType", "RequestResponse"), "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read().decode()
            outputs = {"StatusCode": str(answer.status), "Payload": body}
            if answer.headers.get("X-Amz-Function-Error"):
                outputs["FunctionError"] = answer.headers["X-Amz-Function-Error"]
            return outputs
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"Lambda Invoke of {inputs['FunctionName']} answered HTTP {error.code}: {error.read().decode()[:500]}")


def _execute_script(inputs, timeout):
    runtime = str(inputs.get("Runtime", ""))
    if not runtime.startswith("python3"):
        raise RuntimeError(f"runtime {runtime} is not supported by the sandbox (python3.x only)")
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT_HARNESS, inputs["Script"], inputs["Handler"]],
        input=json.dumps(inputs.get("InputPayload") or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if run.returncode != 0:
        lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"the script exited with code {run.returncode}")
    return {"Payload": run.stdout}


_ACTIONS = {"aws:invokeLambdaFunction": _invoke_lambda, "aws:executeScript": _execute_script}


class Execution:
    def __init__(self, document, content, parameters):
        self.id = str(uuid.uuid4())
        self.document = document
        self.content = content
        self.parameters = parameters
        self.status = "Pending"
        self.start = _now()
        self.end = None
        self.failure = None
        self.outputs = {}
        self.cancelled = False
        self.steps = [
            {"StepName": s["name"], "Action": s["action"], "StepStatus": "Pending", "OnFailure": s.get("onFailure", "Abort")}
            for s in content.get("mainSteps", [])
        ]

    def run(self):
        self.status = "InProgress"
        values = {name: ",".join(value) for name, value in self.parameters.items()}
        outcome = "Success"
        for spec, step in zip(self.content.get("mainSteps", []), self.steps):
            if self.cancelled:
                outcome = "Cancelled"
                break
            inputs = _substitute(spec.get("inputs") or {}, values)
            step.update({"StepStatus": "InProgress", "ExecutionStartTime": _now(), "Inputs": {k: json.dumps(v) if not isinstance(v, str) else v for k, v in inputs.items()}})
            action = _ACTIONS.get(spec["action"])
            try:
                if action is None:
                    raise RuntimeError(f"action {spec['action']} is not supported by the sandbox's Automation")
                outputs = action(inputs, float(spec.get("timeoutSeconds", 3600)))
                step.update({"StepStatus": "Success", "Outputs": {k: [v] for k, v in outputs.items()}})
                values.update({f"{spec['name']}.{k}": v for k, v in outputs.items()})
            except subprocess.TimeoutExpired:
                step.update({"StepStatus": "TimedOut", "FailureMessage": f"Step timed out after {spec.get('timeoutSeconds')} seconds"})
            except Exception as error:  # noqa: BLE001 — every failure of a step is the step's outcome
                step.update({"StepStatus": "Failed", "FailureMessage": str(error) or type(error).__name__})
            step["ExecutionEndTime"] = _now()
            if step["StepStatus"] != "Success":
                if step["OnFailure"] == "Continue":
                    continue
                outcome = step["StepStatus"]
                self.failure = f"Step fails when it is executing. Fail step {step['StepName']}: {step.get('FailureMessage', '')}"
                break
            if spec.get("isEnd"):
                break
        for step in self.steps:
            if step["StepStatus"] == "Pending":
                step["StepStatus"] = "Cancelled" if outcome == "Cancelled" else "Pending"
        self.outputs = {name: [values[name]] for name in self.content.get("outputs", []) if name in values}
        self.end = _now()
        self.status = outcome

    def describe(self):
        result = {
            "AutomationExecutionId": self.id,
            "DocumentName": self.document["Name"],
            "DocumentVersion": self.document.get("DocumentVersion", "1"),
            "ExecutionStartTime": self.start,
            "AutomationExecutionStatus": self.status,
            "StepExecutions": self.steps,
            "Parameters": self.parameters,
            "Outputs": self.outputs,
            "Mode": "Auto",
        }
        if self.end:
            result["ExecutionEndTime"] = self.end
        if self.failure:
            result["FailureMessage"] = self.failure
        return result


def _find(response):
    execution_id = response._get_param("AutomationExecutionId")
    with _LOCK:
        execution = _executions(response.current_account, response.region).get(execution_id)
    if execution is None:
        raise SSMException("AutomationExecutionNotFoundException", f"Automation execution {execution_id} does not exist")
    return execution


def start_automation_execution(self):
    name = self._get_param("DocumentName")
    try:
        document = self.ssm_backend.get_document(name=name, document_version=self._get_param("DocumentVersion"), version_name=None, document_format="JSON")
    except ServiceException:
        raise SSMException("AutomationDefinitionNotFoundException", f"Automation document {name} does not exist")
    if document.get("DocumentType") != "Automation":
        raise SSMException("InvalidAutomationExecutionParametersException", f"document {name} is a {document.get('DocumentType')} document, not Automation")
    content = json.loads(document["Content"])
    execution = Execution(document, content, check_parameters(content, self._get_param("Parameters") or {}))
    with _LOCK:
        _executions(self.current_account, self.region)[execution.id] = execution
    threading.Thread(target=execution.run, name=f"automation-{execution.id}", daemon=True).start()
    return ActionResult({"AutomationExecutionId": execution.id})


def get_automation_execution(self):
    return ActionResult({"AutomationExecution": _find(self).describe()})


def stop_automation_execution(self):
    # A step already running (a Lambda invocation) finishes; no further step starts.
    _find(self).cancelled = True
    return EmptyResult()


def describe_automation_executions(self):
    with _LOCK:
        executions = list(_executions(self.current_account, self.region).values())
    metadata = []
    for execution in executions:
        d = execution.describe()
        metadata.append({k: d[k] for k in ("AutomationExecutionId", "DocumentName", "DocumentVersion", "AutomationExecutionStatus", "ExecutionStartTime", "Outputs", "Mode") if k in d})
    return ActionResult({"AutomationExecutionMetadataList": metadata})


def install():
    for method in (start_automation_execution, get_automation_execution, stop_automation_execution, describe_automation_executions):
        setattr(SimpleSystemManagerResponse, method.__name__, method)
