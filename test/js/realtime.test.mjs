// @supabase/realtime-js, unchanged, against a running Fluxbase.
//
// Environment: FLUXBASE_URL, FLUXBASE_ANON_KEY, FLUXBASE_SERVICE_ROLE_KEY,
// and SQL_URL, where the Go test that runs this file executes SQL it is
// POSTed (the changes the subscriptions must see).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { RealtimeClient } from '@supabase/realtime-js'

const url = process.env.FLUXBASE_URL
const anon = process.env.FLUXBASE_ANON_KEY
const service = process.env.FLUXBASE_SERVICE_ROLE_KEY

async function sql(statement) {
  const res = await fetch(process.env.SQL_URL, { method: 'POST', body: statement })
  assert.equal(res.status, 200, await res.text())
}

function client(key, vsn) {
  return new RealtimeClient(`${url}/realtime/v1`, { params: { apikey: key }, transport: WebSocket, vsn })
}

// subscribed resolves when the channel reports SUBSCRIBED and rejects on
// any other status.
function subscribed(channel) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve()
      else if (status !== 'CLOSED') reject(new Error(`${status}: ${err?.message ?? ''}`))
    })
  })
}

// waitFor collects events and resolves once pred holds for the list.
function collector() {
  const events = []
  const waiters = []
  return {
    push(e) {
      events.push(e)
      for (const w of [...waiters]) if (w.pred(events)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(events) }
    },
    waitFor(pred, what, ms = 10000) {
      if (pred(events)) return Promise.resolve(events)
      return new Promise((resolve, reject) => {
        const w = { pred, resolve }
        waiters.push(w)
        setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(events)}`)), ms)
      })
    },
    events,
  }
}

const clients = []
after(() => { for (const c of clients) c.disconnect() })

for (const vsn of ['1.0.0', '2.0.0']) {
  test(`postgres_changes with a filter (vsn ${vsn})`, async () => {
    const rt = client(service, vsn)
    clients.push(rt)
    const got = collector()
    const channel = rt
      .channel(`changes-${vsn}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'todos', filter: 'list_id=eq.7' }, (p) => got.push(p))
    await subscribed(channel)

    const tag = `v${vsn}`
    await sql(`insert into public.todos (list_id, title) values (7, '${tag} a'), (8, '${tag} other list')`)
    await sql(`update public.todos set done = true where title = '${tag} a'`)
    await sql(`delete from public.todos where title = '${tag} a'`)
    const events = await got.waitFor((e) => e.length >= 3, 'insert, update and delete')
    assert.deepEqual(events.map((e) => e.eventType), ['INSERT', 'UPDATE', 'DELETE'])
    const [ins, upd, del] = events
    assert.equal(ins.schema, 'public')
    assert.equal(ins.table, 'todos')
    assert.equal(ins.new.title, `${tag} a`)
    assert.equal(ins.new.list_id, 7)
    assert.ok(!Number.isNaN(Date.parse(ins.commit_timestamp)), 'commit_timestamp')
    assert.equal(upd.new.done, true)
    assert.equal(upd.old.done, false) // REPLICA IDENTITY FULL
    assert.equal(del.old.id, ins.new.id)
    assert.ok(!events.some((e) => (e.new?.title ?? '').includes('other list')), 'the filter excludes list 8')
    await rt.removeChannel(channel)
  })
}

// Binding ids come from what a binding asks for, so two clients with the
// same bindings receive the same frames; realtime-js must still route each
// event to the callback of the binding it matched, and only to it.
test('several bindings on one channel, on two clients', async () => {
  const subs = []
  for (const rt of [client(service), client(service)]) {
    clients.push(rt)
    const ins = collector()
    const del = collector()
    const channel = rt
      .channel('multi')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos', filter: 'list_id=eq.21' }, (p) => ins.push(p))
      .on('postgres_changes', { event: 'DELETE', schema: 'public', table: 'todos' }, (p) => del.push(p))
    await subscribed(channel)
    subs.push({ ins, del })
  }
  await sql(`insert into public.todos (list_id, title) values (21, 'multi a'), (22, 'multi b')`)
  await sql(`delete from public.todos where title = 'multi a'`)
  for (const { ins, del } of subs) {
    await ins.waitFor((e) => e.length >= 1, 'the insert')
    await del.waitFor((e) => e.length >= 1, 'the delete')
  }
  // A stray event (the other list's insert, or one event routed to both
  // callbacks) would arrive right behind these.
  await sql(`insert into public.todos (list_id, title) values (21, 'multi c')`)
  for (const { ins } of subs) await ins.waitFor((e) => e.length >= 2, 'the second insert')
  for (const { ins, del } of subs) {
    assert.deepEqual(ins.events.map((e) => [e.eventType, e.new.title]), [['INSERT', 'multi a'], ['INSERT', 'multi c']])
    assert.deepEqual(del.events.map((e) => [e.eventType, e.old.title]), [['DELETE', 'multi a']])
  }
})

test('broadcast with self and ack', async () => {
  const a = client(anon)
  const b = client(anon)
  clients.push(a, b)
  const gotA = collector()
  const gotB = collector()
  const ca = a.channel('chat', { config: { broadcast: { self: true, ack: true } } })
    .on('broadcast', { event: 'message' }, (m) => gotA.push(m))
  const cb = b.channel('chat').on('broadcast', { event: 'message' }, (m) => gotB.push(m))
  await subscribed(ca)
  await subscribed(cb)
  const status = await ca.send({ type: 'broadcast', event: 'message', payload: { text: 'hello' } })
  assert.equal(status, 'ok', 'acknowledged')
  await gotA.waitFor((e) => e.length === 1, 'own message (self)')
  await gotB.waitFor((e) => e.length === 1, 'message on the other client')
  assert.deepEqual(gotB.events[0].payload, { text: 'hello' })
})

test('presence: track, sync and leave', async () => {
  const a = client(anon)
  const b = client(anon)
  clients.push(a, b)
  const ca = a.channel('room', { config: { presence: { key: 'alice' } } })
  const leaves = collector()
  const syncs = collector()
  ca.on('presence', { event: 'sync' }, () => syncs.push(ca.presenceState()))
  ca.on('presence', { event: 'leave' }, (l) => leaves.push(l))
  await subscribed(ca)
  const cb = b.channel('room', { config: { presence: { key: 'bob' } } })
  await subscribed(cb)
  assert.equal(await ca.track({ status: 'online' }), 'ok')
  assert.equal(await cb.track({ status: 'away' }), 'ok')
  await syncs.waitFor((s) => s.some((st) => st.alice && st.bob), 'both users in the presence state')
  const state = ca.presenceState()
  assert.equal(state.bob[0].status, 'away')
  assert.equal(state.alice[0].status, 'online')

  b.disconnect() // bob drops
  await leaves.waitFor((e) => e.some((l) => l.key === 'bob'), 'bob leaving')
  await syncs.waitFor(() => !ca.presenceState().bob, 'bob gone from the state')
})
