// Stripe's official Node library against stripe-fake (base URL in argv[2]): the fake must
// accept exactly what the library sends (its form encoding, headers and idempotency keys)
// and answer what the library parses; the library must verify the fake's webhook signatures.
'use strict';
const Stripe = require('stripe');

const base = new URL(process.argv[2]);
const stripe = new Stripe('sk_test_fake0123456789abcdef', {
  apiVersion: '2023-08-16',
  host: base.hostname,
  port: base.port,
  protocol: 'http',
  maxNetworkRetries: 0,
  telemetry: false,
});

async function main() {
  const out = {};
  const customer = await stripe.customers.create(
    { name: 'Acme', email: 'it@acme.example', metadata: { team_id: 't1' } },
    { idempotencyKey: 'node-cus-1' },
  );
  out.customer = customer.id;
  const again = await stripe.customers.create(
    { name: 'Acme', email: 'it@acme.example', metadata: { team_id: 't1' } },
    { idempotencyKey: 'node-cus-1' },
  );
  out.replayed_same_customer = again.id === customer.id;
  try {
    await stripe.customers.create({ name: 'Other' }, { idempotencyKey: 'node-cus-1' });
  } catch (e) {
    out.conflict_type = e.type;
  }
  try {
    await stripe.subscriptions.retrieve('sub_missing');
  } catch (e) {
    out.missing_code = e.code;
  }
  const session = await stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: customer.id,
    client_reference_id: 't1',
    line_items: [{ price: 'price_business_fake', quantity: 1 }],
    success_url: 'https://app.example/ok',
    cancel_url: 'https://app.example/no',
    subscription_data: { metadata: { team_id: 't1' } },
  });
  await stripe.billingPortal.sessions.create({ customer: customer.id, return_url: 'https://app.example/b' });
  const res = await fetch(`${base.origin}/__fake/checkout/${session.id}/complete`, { method: 'POST', body: '{}' });
  const completed = await res.json();
  const sub = await stripe.subscriptions.retrieve(completed.subscription);
  out.subscription_status = sub.status;
  const events = (await (await fetch(`${base.origin}/__fake/events`)).json()).events;
  const event = stripe.webhooks.constructEvent(events[0].payload, events[0].stripe_signature, 'whsec_fake0123456789abcdef0123');
  out.event_verified = event.type === 'checkout.session.completed';
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
