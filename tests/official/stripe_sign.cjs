// Signs webhook payloads with Stripe's official Node library, for the stack tests that deliver
// the Stripe fake's events to the worker: reads {"secret": "whsec_...", "payloads": [...]} on
// stdin and prints a JSON array of Stripe-Signature headers (stripe.webhooks.generateTestHeaderString).
'use strict';
const Stripe = require('stripe');
const stripe = new Stripe('sk_test_0123456789abcdefABCDEF', { apiVersion: '2023-08-16' });

let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { secret, payloads } = JSON.parse(input);
  const headers = payloads.map((payload) => stripe.webhooks.generateTestHeaderString({ payload, secret }));
  process.stdout.write(JSON.stringify(headers));
});
