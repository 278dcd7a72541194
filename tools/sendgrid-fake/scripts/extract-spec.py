#!/usr/bin/env python3
"""Extracts the subset of SendGrid's OpenAPI spec (github.com/twilio/sendgrid-oai, MIT) that
sendgrid-fake serves into spec/openapi-subset.json: the `POST /v3/mail/send` request schema with
its references inlined, its response codes, the error body, and the signed event webhook
public-key response.

usage: extract-spec.py <spec/json/tsg_mail_v3.json> <spec/json/tsg_webhooks_v3.json>"""
import json
import sys

KEEP = ("type", "required", "properties", "items", "minItems", "maxItems", "minLength",
        "maxLength", "format", "enum", "nullable", "additionalProperties")


def inline(node, components):
    if isinstance(node, list):
        return [inline(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        return inline(components[kind][name], components)
    out = {}
    for key in KEEP:
        if key in node:
            value = node[key]
            if key == "properties":
                value = {k: inline(v, components) for k, v in sorted(value.items())}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                value = inline(value, components)
            out[key] = value
    return out


def main():
    mail = json.load(open(sys.argv[1]))
    hooks = json.load(open(sys.argv[2]))
    mc, hc = mail["components"], hooks["components"]
    op = mail["paths"]["/v3/mail/send"]["post"]
    request = mc["requestBodies"]["PostMailSend"]["content"]["application/json"]["schema"]
    signed = hooks["paths"]["/v3/user/webhooks/event/settings/signed/{id}"]["get"]
    signed_response = signed["responses"]["200"]["content"]["application/json"]["schema"]
    json.dump({
        "source": "https://github.com/twilio/sendgrid-oai (spec/json/tsg_mail_v3.json, spec/json/tsg_webhooks_v3.json)",
        "mail_send": {
            "request": inline(request, mc),
            "responses": sorted(op["responses"].keys()),
        },
        "error_response": inline(mc["schemas"]["ErrorResponse"], mc),
        "signed_public_key_response": inline(signed_response, hc),
    }, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


main()
