// SendGrid's own verifier (@sendgrid/eventwebhook) on a post signed by sendgrid-fake:
// argv[2] is the JSON {public_key, payload, signature, timestamp}; prints true or false.
'use strict';
const { EventWebhook } = require('@sendgrid/eventwebhook');

const input = JSON.parse(process.argv[2]);
const ew = new EventWebhook();
const key = ew.convertPublicKeyToECDSA(input.public_key);
const ok = ew.verifySignature(key, input.payload, input.signature, input.timestamp);
const tampered = ew.verifySignature(key, input.payload.replace('bounce', 'delivered'), input.signature, input.timestamp);
process.stdout.write(JSON.stringify({ ok, tampered }));
