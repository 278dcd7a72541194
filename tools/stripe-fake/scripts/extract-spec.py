#!/usr/bin/env python3
"""Extracts the subset of Stripe's OpenAPI spec (github.com/stripe/openapi, MIT) that
stripe-fake serves, plus the matching stripe-mock fixtures, into spec/openapi-subset.json.

usage: extract-spec.py <openapi/spec3.yaml> <openapi/fixtures3.json> > spec/openapi-subset.json

Kept: for each operation the fake implements, its form parameters (name, type, enum, nested
property names) and required list; the response schemas reachable from those operations and from
the webhook event objects, with descriptions dropped; an expandable field (a string id or the
object) keeps only its string form, which is all the fake renders; and the example objects
stripe-mock uses, which the fake starts every object from."""
import json
import sys

import yaml

OPERATIONS = [
    ("post", "/v1/customers"),
    ("get", "/v1/customers/{customer}"),
    ("delete", "/v1/customers/{customer}"),
    ("post", "/v1/checkout/sessions"),
    ("get", "/v1/checkout/sessions/{session}"),
    ("post", "/v1/billing_portal/sessions"),
    ("get", "/v1/subscriptions/{subscription_exposed_id}"),
    ("delete", "/v1/subscriptions/{subscription_exposed_id}"),
    ("get", "/v1/events/{id}"),
]
ROOTS = ["customer", "deleted_customer", "checkout.session", "billing_portal.session",
         "subscription", "invoice", "event", "error"]
FIXTURES = ["customer", "deleted_customer", "checkout.session", "billing_portal.session",
            "subscription", "invoice", "event"]
KEEP = ("type", "enum", "nullable", "required", "properties", "items", "anyOf", "$ref",
        "additionalProperties", "format", "maxLength")


def ref_name(ref):
    return ref.rsplit("/", 1)[1]


def is_expandable(node):
    alts = node.get("anyOf", [])
    return any(a.get("type") == "string" for a in alts) and any("$ref" in a for a in alts)


def trim(node, refs):
    if not isinstance(node, dict):
        return node
    if is_expandable(node):
        out = {"type": "string", "x-expandable": True}
        if node.get("nullable"):
            out["nullable"] = True
        return out
    out = {}
    for key in KEEP:
        if key not in node:
            continue
        value = node[key]
        if key == "$ref":
            refs.add(ref_name(value))
            out[key] = value
        elif key == "properties":
            out[key] = {k: trim(v, refs) for k, v in sorted(value.items())}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = trim(value, refs)
        elif key == "anyOf":
            out[key] = [trim(v, refs) for v in value]
        else:
            out[key] = value
    return out


def form_params(op):
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/x-www-form-urlencoded", {}).get("schema", {})
    params = {}
    for name, prop in schema.get("properties", {}).items():
        entry = {k: prop[k] for k in ("type", "enum") if k in prop}
        if "anyOf" in prop:
            entry["anyOf"] = [{k: a[k] for k in ("type", "enum") if k in a} for a in prop["anyOf"]]
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            entry["item_properties"] = sorted(prop["items"].get("properties", {}).keys())
        if prop.get("type") == "object" and "properties" in prop:
            entry["properties"] = sorted(prop["properties"].keys())
        params[name] = entry
    return params, sorted(schema.get("required", []))


def main():
    spec = yaml.safe_load(open(sys.argv[1]))
    fixtures = json.load(open(sys.argv[2]))["resources"]
    schemas = spec["components"]["schemas"]
    operations = {}
    for method, path in OPERATIONS:
        op = spec["paths"][path][method]
        params, required = form_params(op)
        query = sorted(p["name"] for p in op.get("parameters", []) if p.get("in") == "query")
        response = op["responses"]["200"]["content"]["application/json"]["schema"]
        operations[f"{method.upper()} {path}"] = {
            "params": params, "required": required, "query": query,
            "response": ref_name(response["$ref"]) if "$ref" in response else None,
        }
    out_schemas, todo = {}, list(ROOTS)
    while todo:
        name = todo.pop()
        if name in out_schemas:
            continue
        refs = set()
        out_schemas[name] = trim(schemas[name], refs)
        todo.extend(sorted(refs - set(out_schemas)))
    json.dump({
        "source": "https://github.com/stripe/openapi (openapi/spec3.yaml, openapi/fixtures3.json)",
        "api_version": spec["info"]["version"],
        "operations": operations,
        "schemas": dict(sorted(out_schemas.items())),
        "fixtures": {k: fixtures[k] for k in FIXTURES},
    }, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


main()
