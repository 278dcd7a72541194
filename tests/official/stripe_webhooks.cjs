// Signs webhook payloads with Stripe's official Node library and records its own verdict on
// each (stripe.webhooks.constructEvent), so tests/official_libraries.rs can check that
// Butterfly's verifier agrees with Stripe's code on every case, accepted and refused.
// Prints one JSON array of {name, payload, header, secret, now, tolerance, stripe_ok}.
'use strict';
const Stripe = require('stripe');
const stripe = new Stripe('sk_test_0123456789abcdefABCDEF', { apiVersion: '2023-08-16' });

const secret = 'whsec_0123456789abcdefABCDEF0123';
const other = 'whsec_ffffffffffffffff0000000000';
const now = 1700000000;
const payload = JSON.stringify({
  id: 'evt_1', object: 'event', type: 'customer.subscription.updated', created: now,
  livemode: false, data: { object: { id: 'sub_1', object: 'subscription' } },
});
const sign = (p, s, t) => stripe.webhooks.generateTestHeaderString({ payload: p, secret: s, timestamp: t });
const v1 = (h) => h.split(',').find((x) => x.startsWith('v1=')).slice(3);

const cases = [
  ['valid', payload, sign(payload, secret, now), secret, now],
  ['valid_at_tolerance_edge', payload, sign(payload, secret, now - 300), secret, now],
  ['too_old', payload, sign(payload, secret, now - 301), secret, now],
  ['future_timestamp', payload, sign(payload, secret, now + 3600), secret, now],
  ['other_secret', payload, sign(payload, other, now), secret, now],
  ['tampered_body', payload.replace('sub_1', 'sub_2'), sign(payload, secret, now), secret, now],
  ['whitespace_added', payload + '\n', sign(payload, secret, now), secret, now],
  ['two_signatures_second_ours', payload, `t=${now},v1=${v1(sign(payload, other, now))},v1=${v1(sign(payload, secret, now))}`, secret, now],
  ['two_signatures_neither', payload, `t=${now},v1=${v1(sign(payload, other, now))},v1=${'0'.repeat(64)}`, secret, now],
  ['v0_only', payload, `t=${now},v0=${v1(sign(payload, secret, now))}`, secret, now],
  ['no_timestamp', payload, `v1=${v1(sign(payload, secret, now))}`, secret, now],
  ['restamped', payload, `t=${now + 1},v1=${v1(sign(payload, secret, now))}`, secret, now],
  ['unicode_body', payload.replace('sub_1', 'sub_ü→1'), sign(payload.replace('sub_1', 'sub_ü→1'), secret, now), secret, now],
  ['extra_fields', payload, `${sign(payload, secret, now)},v2=abc,x=y`, secret, now],
];

const out = cases.map(([name, p, header, s, at]) => {
  let ok;
  try {
    stripe.webhooks.constructEvent(p, header, s, 300, undefined, at * 1000);
    ok = true;
  } catch (e) {
    if (e.type !== 'StripeSignatureVerificationError') throw e;
    ok = false;
  }
  return { name, payload: p, header, secret: s, now: at, tolerance: 300, stripe_ok: ok };
});
process.stdout.write(JSON.stringify(out));
