// Signs one event-webhook post as SendGrid does (ECDSA P-256 over SHA-256 of timestamp + payload,
// DER signature in base64) with the stack's fresh test key, and checks it with SendGrid's own
// verifier (@sendgrid/eventwebhook, EventWebhook.verifySignature) before the stack test posts it
// to the worker. Reads {key_file, payload, timestamp} on stdin; prints {signature, sendgrid_ok}.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { EventWebhook } = require('@sendgrid/eventwebhook');

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const privateKey = crypto.createPrivateKey(fs.readFileSync(input.key_file));
const publicKey = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
const signature = crypto
  .sign('sha256', Buffer.from(input.timestamp + input.payload), { key: privateKey, dsaEncoding: 'der' })
  .toString('base64');
const ew = new EventWebhook();
const ok = ew.verifySignature(ew.convertPublicKeyToECDSA(publicKey), input.payload, signature, input.timestamp);
process.stdout.write(JSON.stringify({ signature, sendgrid_ok: ok }));
