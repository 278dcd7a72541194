#!/usr/bin/env python3
"""Extract the slice of Okta's management OpenAPI spec that the emulator's conformance test needs.

The full spec is 3.4 MB of YAML and is not available at test time, so this script is run once (by hand,
whenever the emulator starts emitting a new payload type) and its output is committed as
`tests/fixtures/okta/openapi-subset.json`.

Output: {"x-provenance": ..., "paths": {"<GET path template>": <200 response schema>},
"components": {"schemas": {...}}} holding the transitive closure of every `$ref` and
`discriminator.mapping` target reachable from the listed operations plus `Error`. Annotation keywords
(description, example, ...) are dropped; every validation keyword is kept verbatim.

Usage: python3 extract-spec.py [SPEC_YAML] [OUTPUT_JSON]   (needs PyYAML); it also writes
src/spec/requests.json, the request body schemas of the write operations the emulator checks.
"""

import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPEC = "/work/shared/okta/management-openapi.yaml"
DEFAULT_OUT = os.path.join(HERE, "..", "..", "..", "tests", "fixtures", "okta", "openapi-subset.json")

SPEC_REPO = "github.com/okta/okta-management-openapi-spec"
SPEC_FILE = "dist/current/management-oneOfInheritance.yaml"
SPEC_COMMIT = "fdda229e82940cf5af4611ad673ca6a27974e31b"

# GET operations the emulator serves, whose 200 response schemas the conformance test validates against.
PATHS = [
    "/api/v1/users",
    "/api/v1/users/{id}",
    "/api/v1/groups",
    "/api/v1/groups/{groupId}",
    "/api/v1/groups/{groupId}/users",
    "/api/v1/apps",
    "/api/v1/apps/{appId}",
    "/api/v1/apps/{appId}/users",
    "/api/v1/apps/{appId}/users/{userId}",
    "/api/v1/apps/{appId}/groups",
    "/api/v1/apps/{appId}/groups/{groupId}",
    "/api/v1/policies",
    "/api/v1/policies/{policyId}",
    "/api/v1/policies/{policyId}/rules",
    "/api/v1/policies/{policyId}/rules/{ruleId}",
    "/api/v1/org",
    "/api/v1/groups/rules",
    "/api/v1/groups/{groupId}/roles",
    "/api/v1/users/{userId}/roles",
    "/api/v1/iam/assignees/users",
    "/api/v1/authenticators",
    "/api/v1/zones",
    "/api/v1/idps",
    "/api/v1/eventHooks",
    "/api/v1/inlineHooks",
    "/api/v1/api-tokens",
    "/api/v1/threats/configuration",
    "/api/v1/authorizationServers",
    "/api/v1/authorizationServers/{authServerId}/scopes",
    "/api/v1/authorizationServers/{authServerId}/claims",
    "/api/v1/authorizationServers/{authServerId}/policies",
    "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules",
    "/api/v1/logs",
    "/api/v1/groups/rules/{groupRuleId}",
    "/api/v1/authenticators/{authenticatorId}",
    "/api/v1/zones/{zoneId}",
    "/api/v1/idps/{idpId}",
    "/api/v1/eventHooks/{eventHookId}",
    "/api/v1/inlineHooks/{inlineHookId}",
    "/api/v1/api-tokens/{apiTokenId}",
    "/api/v1/authorizationServers/{authServerId}",
    "/api/v1/authorizationServers/{authServerId}/scopes/{scopeId}",
    "/api/v1/authorizationServers/{authServerId}/claims/{claimId}",
    "/api/v1/authorizationServers/{authServerId}/policies/{policyId}",
    "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}",
]
EXTRA_SCHEMAS = ["Error"]

# Write operations the emulator serves, whose request body schemas it checks payloads against.
WRITES = [
    ("post", "/api/v1/users"),
    ("post", "/api/v1/users/{id}"),
    ("put", "/api/v1/users/{id}"),
    ("post", "/api/v1/users/{userId}/roles"),
    ("post", "/api/v1/groups"),
    ("put", "/api/v1/groups/{groupId}"),
    ("post", "/api/v1/groups/{groupId}/roles"),
    ("post", "/api/v1/groups/rules"),
    ("put", "/api/v1/groups/rules/{groupRuleId}"),
    ("post", "/api/v1/apps"),
    ("put", "/api/v1/apps/{appId}"),
    ("post", "/api/v1/apps/{appId}/users"),
    ("post", "/api/v1/apps/{appId}/users/{userId}"),
    ("put", "/api/v1/apps/{appId}/groups/{groupId}"),
    ("post", "/api/v1/policies"),
    ("put", "/api/v1/policies/{policyId}"),
    ("post", "/api/v1/policies/{policyId}/rules"),
    ("put", "/api/v1/policies/{policyId}/rules/{ruleId}"),
    ("post", "/api/v1/zones"),
    ("put", "/api/v1/zones/{zoneId}"),
    ("post", "/api/v1/authenticators"),
    ("put", "/api/v1/authenticators/{authenticatorId}"),
    ("post", "/api/v1/authorizationServers"),
    ("put", "/api/v1/authorizationServers/{authServerId}"),
    ("post", "/api/v1/authorizationServers/{authServerId}/scopes"),
    ("put", "/api/v1/authorizationServers/{authServerId}/scopes/{scopeId}"),
    ("post", "/api/v1/authorizationServers/{authServerId}/claims"),
    ("put", "/api/v1/authorizationServers/{authServerId}/claims/{claimId}"),
    ("post", "/api/v1/authorizationServers/{authServerId}/policies"),
    ("put", "/api/v1/authorizationServers/{authServerId}/policies/{policyId}"),
    ("post", "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules"),
    ("put", "/api/v1/authorizationServers/{authServerId}/policies/{policyId}/rules/{ruleId}"),
    ("post", "/api/v1/idps"),
    ("put", "/api/v1/idps/{idpId}"),
    ("post", "/api/v1/eventHooks"),
    ("put", "/api/v1/eventHooks/{eventHookId}"),
    ("post", "/api/v1/inlineHooks"),
    ("post", "/api/v1/inlineHooks/{inlineHookId}"),
    ("put", "/api/v1/inlineHooks/{inlineHookId}"),
    ("post", "/api/v1/threats/configuration"),
]
DEFAULT_REQUESTS_OUT = os.path.join(HERE, "..", "src", "spec", "requests.json")

# Keywords that carry no validation meaning; everything else in a schema object is kept.
ANNOTATIONS = {
    "description", "example", "examples", "title", "externalDocs", "default", "deprecated",
    "x-okta-lifecycle", "x-enumDescriptions", "x-enumDescription", "x-okta-ignore-redocly-rules-for-sdk",
    "x-okta-defined-as", "x-okta-tags", "x-okta-known-values", "x-okta-operationId",
}


def clean(schema):
    """Drop annotations from a schema object, recursing only into sub-schema positions, so that a
    property that happens to be *named* `description` survives."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ANNOTATIONS:
            continue
        if key == "properties":
            out[key] = {name: clean(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = clean(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [clean(sub) for sub in value]
        else:
            out[key] = value
    return out


def refs(node):
    """Every component schema name referenced by `$ref` or `discriminator.mapping` below `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            elif key == "mapping" and isinstance(value, dict):
                for target in value.values():
                    yield target.rsplit("/", 1)[-1]
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def closure(roots, schemas):
    """The component schemas `roots` reach, cleaned."""
    wanted = list(refs(roots))
    picked = {}
    while wanted:
        name = wanted.pop()
        if name in picked:
            continue
        picked[name] = clean(schemas[name])
        wanted.extend(refs(picked[name]))
    return dict(sorted(picked.items()))


def write_subset(spec, schemas, out_path):
    """The request body schemas of WRITES, keyed `METHOD template`, for the emulator binary."""
    paths = {}
    for method, path in WRITES:
        body = spec["paths"][path][method].get("requestBody", {})
        schema = body.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            paths[f"{method.upper()} {path}"] = clean(schema)
    subset = {
        "x-provenance": {
            "repository": SPEC_REPO,
            "file": SPEC_FILE,
            "commit": SPEC_COMMIT,
            "info.version": spec["info"]["version"],
            "license": spec["info"]["license"]["name"],
            "note": "Request body schemas extracted by tools/okta-emulator/scripts/extract-spec.py; annotations removed.",
        },
        "paths": paths,
        "components": {"schemas": closure(paths, schemas)},
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(subset, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(paths)} request schemas to {out_path}")


def main():
    spec_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SPEC
    out_path = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.load(f, Loader=loader)
    schemas = spec["components"]["schemas"]

    paths = {}
    for path in PATHS:
        response = spec["paths"][path]["get"]["responses"]["200"]
        if "$ref" in response:
            response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        paths[path] = clean(response["content"]["application/json"]["schema"])

    wanted = list(refs(paths)) + EXTRA_SCHEMAS
    picked = {}
    while wanted:
        name = wanted.pop()
        if name in picked:
            continue
        picked[name] = clean(schemas[name])
        wanted.extend(refs(picked[name]))

    write_subset(spec, schemas, os.path.normpath(DEFAULT_REQUESTS_OUT))

    subset = {
        "x-provenance": {
            "repository": SPEC_REPO,
            "file": SPEC_FILE,
            "commit": SPEC_COMMIT,
            "info.version": spec["info"]["version"],
            "license": spec["info"]["license"]["name"],
            "note": "Subset extracted by tools/okta-emulator/scripts/extract-spec.py; annotations removed.",
        },
        "paths": paths,
        "components": {"schemas": dict(sorted(picked.items()))},
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(subset, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(paths)} paths and {len(picked)} schemas to {os.path.normpath(out_path)}")


if __name__ == "__main__":
    main()
