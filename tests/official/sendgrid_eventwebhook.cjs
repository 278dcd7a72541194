// Signs event-webhook payloads the way SendGrid does (ECDSA P-256 over SHA-256 of
// timestamp + payload, DER signature in base64; key as base64 SubjectPublicKeyInfo, the form
// SendGrid's settings page shows) and records the verdict of SendGrid's own verifier
// (@sendgrid/eventwebhook) on each case, so tests/official_libraries.rs can check Butterfly's
// verifier agrees with it. Prints {public_key, cases: [{name, payload, signature, timestamp,
// sendgrid_ok}]}.
'use strict';
const crypto = require('crypto');
const { EventWebhook } = require('@sendgrid/eventwebhook');

const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const other = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const publicKeyB64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const sign = (key, ts, payload) =>
  crypto.sign('sha256', Buffer.from(ts + payload), { key, dsaEncoding: 'der' }).toString('base64');

const ts = '1700000000';
const payload = JSON.stringify([
  { email: 'bounce@example.com', timestamp: 1700000000, event: 'bounce', type: 'bounce',
    sg_event_id: 'ZW1haWwtZXZlbnQ', sg_message_id: 'msg.filter0001', outbox_id: 'o1' },
]) + '\r\n';
const good = sign(privateKey, ts, payload);
const cases = [
  ['valid', payload, good, ts],
  ['tampered_payload', payload.replace('bounce@', 'other@'), good, ts],
  ['tampered_timestamp', payload, good, '1700000001'],
  ['other_key', payload, sign(other, ts, payload), ts],
  ['signature_of_payload_only', payload, crypto.sign('sha256', Buffer.from(payload), { key: privateKey, dsaEncoding: 'der' }).toString('base64'), ts],
  ['truncated_signature', payload, good.slice(0, 40), ts],
  ['not_base64', payload, '!!!not-a-signature!!!', ts],
  ['unicode_payload', '[{"email":"ü@example.com","event":"spamreport"}]', sign(privateKey, ts, '[{"email":"ü@example.com","event":"spamreport"}]'), ts],
];
// Many fresh signatures, so both high- and low-S encodings are exercised.
for (let i = 0; i < 24; i++) {
  const p = JSON.stringify([{ email: `u${i}@example.com`, event: 'delivered', sg_event_id: `e${i}` }]);
  cases.push([`random_${i}`, p, sign(privateKey, ts, p), ts]);
}

const ew = new EventWebhook();
const key = ew.convertPublicKeyToECDSA(publicKeyB64);
const out = cases.map(([name, p, signature, timestamp]) => {
  let ok;
  try {
    ok = ew.verifySignature(key, p, signature, timestamp);
  } catch (e) {
    ok = false; // a signature the library cannot even parse is a refusal
  }
  return { name, payload: p, signature, timestamp, sendgrid_ok: ok };
});
process.stdout.write(JSON.stringify({ public_key: publicKeyB64, cases: out }));
