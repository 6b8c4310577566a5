"""The policy page: the policy in force (as the TOML file staff edit), a new file uploaded and
checked with the CLI's own checks (`gateway.policy_file.parse_rules`), shown as a diff, and
applied only when staff confirm — and only if nobody changed the policy meanwhile."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response

from common.staff_web.render import done, page
from gateway.console.rights import Right
from gateway.console.web import Actor, console_of, need
from gateway.policy_file import PolicyFileError, parse_rules, rules_to_toml
from gateway.policy_service import PolicyInputError, PolicyService
from wire.policy import wing_policy

MAX_POLICY_BYTES = 256 * 1024
_SHOWN = {"audience": "wing:show", "version": 1, "issued": 0, "expires": 1}


def current_toml(policy: PolicyService) -> str:
    return rules_to_toml(policy.document) if policy.document is not None else ""


def proposed(text: str, source: str) -> tuple[dict[str, Any], str]:
    """The rules a file makes and the TOML they would be shown as; PolicyFileError naming
    file, line and field for a mistake (as `staff policy apply --check`)."""
    rules = parse_rules(text, source=source)
    try:
        shown = rules_to_toml(wing_policy(rules, **_SHOWN))
    except ValueError as exc:
        raise PolicyFileError(f"{source}: {exc}") from exc
    return rules, shown


def policy_router() -> APIRouter:
    router = APIRouter()

    @router.get("/policy")
    @router.get("/policy.json")
    async def show(request: Request,
                   actor: Annotated[Actor, Depends(need(Right.CURFEW))]) -> Response:
        policy = console_of(request).service.policy
        summary = policy.summary()
        summary.pop("rules", None)
        return page(request, "policy.html", {"summary": summary,
                                             "toml": current_toml(policy)})

    @router.post("/policy/check")
    @router.post("/policy/check.json")
    async def check(request: Request, actor: Annotated[Actor, Depends(need(Right.CURFEW))],
                    file: UploadFile | None = None,
                    text: Annotated[str, Form(max_length=MAX_POLICY_BYTES)] = "") -> Response:
        policy = console_of(request).service.policy
        source = "policy"
        if file is not None and file.filename:
            raw = await file.read(MAX_POLICY_BYTES + 1)
            if len(raw) > MAX_POLICY_BYTES:
                raise HTTPException(413, f"a policy file is at most {MAX_POLICY_BYTES} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(422, f"{file.filename}: not UTF-8 text") from None
            source = file.filename
        try:
            _rules, shown = proposed(text, source)
        except PolicyFileError as exc:
            raise HTTPException(422, str(exc)) from exc
        current = current_toml(policy)
        diff = list(difflib.unified_diff(current.splitlines(), shown.splitlines(),
                                         "in force", "uploaded", lineterm=""))
        return page(request, "policy_diff.html", {
            "source": source, "text": text, "diff": diff, "changed": bool(diff),
            "base_version": policy.document.version if policy.document else 0})

    @router.post("/policy/apply")
    @router.post("/policy/apply.json")
    async def apply(request: Request, actor: Annotated[Actor, Depends(need(Right.CURFEW))],
                    text: Annotated[str, Form(max_length=MAX_POLICY_BYTES)],
                    base_version: Annotated[int, Form(ge=0)]) -> Response:
        policy = console_of(request).service.policy
        current = policy.document.version if policy.document else 0
        if base_version != current:
            raise HTTPException(409, f"the policy changed meanwhile (now version {current}): "
                                "upload it again to see the new difference")
        try:
            rules, _shown = proposed(text, "policy")
            outcome = await policy.apply(rules, actor.name)
        except PolicyFileError as exc:
            raise HTTPException(422, str(exc)) from exc
        except PolicyInputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return done(request, "/policy", {"version": outcome.version, "hash": outcome.hash,
                                         "changed": outcome.changed})

    return router
