// @supabase/postgrest-js, unchanged, against a running Fluxbase serving the
// shop schema (internal/testutil/fixtures/shop.sql, applied as a user
// migration by test/postgrest_js_test.go).
//
// Environment: FLUXBASE_URL, FLUXBASE_ANON_KEY, FLUXBASE_SERVICE_ROLE_KEY,
// FLUXBASE_JWT_SECRET (the HS256 secret the server accepts, to sign a token
// for Alice, a customer of the seed data).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { PostgrestClient } from '@supabase/postgrest-js'

const url = process.env.FLUXBASE_URL + '/rest/v1'
const anonKey = process.env.FLUXBASE_ANON_KEY
const serviceKey = process.env.FLUXBASE_SERVICE_ROLE_KEY
const ALICE = '00000000-0000-4000-8000-00000000000a'

function b64url(s) {
  return Buffer.from(s).toString('base64url')
}

function sign(claims) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const body = b64url(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 }))
  const sig = createHmac('sha256', process.env.FLUXBASE_JWT_SECRET).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${sig}`
}

function client(token, opts = {}) {
  return new PostgrestClient(url, { headers: { apikey: anonKey, Authorization: `Bearer ${token}` }, ...opts })
}

const anon = client(anonKey)
const service = client(serviceKey)
const alice = client(sign({ sub: ALICE, role: 'authenticated', aud: 'authenticated', email: 'alice@example.com' }))

// ids runs a products query as anon and returns the ids, failing on error.
async function ids(build) {
  const { data, error, status } = await build(anon.from('products').select('id')).order('id')
  assert.equal(error, null, JSON.stringify(error))
  assert.equal(status, 200)
  return data.map((r) => r.id)
}

test('select with embeds', async () => {
  const { data, error } = await anon
    .from('products')
    .select('name, category:categories(name, parent:parent_id(name)), tags(name)')
    .eq('id', 1)
    .order('name', { referencedTable: 'tags' })
  assert.equal(error, null, JSON.stringify(error))
  assert.deepEqual(data, [
    {
      name: 'Aero Laptop 13',
      category: { name: 'Laptops', parent: { name: 'Computers' } },
      tags: [{ name: 'bestseller' }, { name: 'new' }],
    },
  ])
})

test('embedded filters, !inner and spread', async () => {
  const { data, error } = await anon
    .from('products')
    .select('id, tags!inner(name), ...categories(category:name)')
    .eq('tags.name', 'sale')
    .order('id')
  assert.equal(error, null, JSON.stringify(error))
  assert.deepEqual(data, [
    { id: 3, tags: [{ name: 'sale' }], category: 'Phones' },
    { id: 4, tags: [{ name: 'sale' }], category: 'Phones' },
  ])
})

test('comparison filters', async () => {
  assert.deepEqual(await ids((q) => q.eq('id', 3)), [3])
  assert.deepEqual(await ids((q) => q.neq('category_id', 3)), [3, 4, 5, 6, 7, 8, 9])
  assert.deepEqual(await ids((q) => q.gt('price', 1000)), [2, 4])
  assert.deepEqual(await ids((q) => q.gte('price', 999)), [1, 2, 4])
  assert.deepEqual(await ids((q) => q.lt('price', 10)), [6, 7])
  assert.deepEqual(await ids((q) => q.lte('price', 9.99)), [6, 7])
})

test('pattern filters', async () => {
  assert.deepEqual(await ids((q) => q.like('name', '%Laptop%')), [1, 2])
  assert.deepEqual(await ids((q) => q.ilike('name', '%phone%')), [3, 4])
  assert.deepEqual(await ids((q) => q.likeAllOf('name', ['%a%', '%e%'])), [1, 5, 8, 9])
  assert.deepEqual(await ids((q) => q.likeAnyOf('name', ['%Laptop%', '%Phone'])), [1, 2, 3, 4])
  assert.deepEqual(await ids((q) => q.ilikeAllOf('name', ['%o%', '%n%'])), [2, 3, 4, 5, 7, 8])
  assert.deepEqual(await ids((q) => q.ilikeAnyOf('name', ['dune', 'rake'])), [6, 9])
})

test('is and in', async () => {
  assert.deepEqual(await ids((q) => q.is('description', null)), [9])
  assert.deepEqual(await ids((q) => q.in('id', [1, 3, 5])), [1, 3, 5])
  assert.deepEqual(await ids((q) => q.in('description', ['Flexible hose, 20 m', 'Premium phone'])), [4, 8])
})

test('array and json containment', async () => {
  assert.deepEqual(await ids((q) => q.contains('sizes', ['M'])), [8, 9])
  assert.deepEqual(await ids((q) => q.contains('attributes', { color: 'silver' })), [1])
  assert.deepEqual(await ids((q) => q.containedBy('ratings', [4, 5])), [1, 3, 4, 5, 6, 7, 9])
  assert.deepEqual(await ids((q) => q.overlaps('sizes', ['S', 'XL'])), [8])
})

test('range operators', async () => {
  assert.deepEqual(await ids((q) => q.rangeGt('age_range', '[0,12)')), [1, 2, 3, 4, 5, 6])
  assert.deepEqual(await ids((q) => q.rangeGte('age_range', '[0,12)')), [8, 9])
  assert.deepEqual(await ids((q) => q.rangeLt('age_range', '[12,20)')), [8, 9])
  assert.deepEqual(await ids((q) => q.rangeLte('age_range', '[12,20)')), [1, 2, 3, 4, 5, 6])
  assert.deepEqual(await ids((q) => q.rangeAdjacent('age_range', '[12,16)')), [1, 2, 5, 8, 9])
  assert.deepEqual(await ids((q) => q.overlaps('age_range', '[0,6)')), [8, 9])
})

test('full-text search', async () => {
  assert.deepEqual(await ids((q) => q.textSearch('search', 'laptop')), [1, 2])
  assert.deepEqual(await ids((q) => q.textSearch('search', 'science fiction', { type: 'plain', config: 'english' })), [6, 7])
  assert.deepEqual(await ids((q) => q.textSearch('search', 'fiction novel', { type: 'phrase', config: 'english' })), [6])
  assert.deepEqual(await ids((q) => q.textSearch('search', 'laptop -gaming', { type: 'websearch', config: 'english' })), [1])
  assert.deepEqual(await ids((q) => q.textSearch('description', 'books', { config: 'english' })), [5])
})

test('match, not, or and filter', async () => {
  assert.deepEqual(await ids((q) => q.match({ category_id: 4, stock: 0 })), [4])
  assert.deepEqual(await ids((q) => q.not('description', 'is', null)), [1, 2, 3, 4, 5, 6, 7, 8])
  assert.deepEqual(await ids((q) => q.not('id', 'in', '(1,2,3,4,5,6,7)')), [8, 9])
  assert.deepEqual(await ids((q) => q.or('price.lt.10,price.gt.1500')), [2, 6, 7])
  assert.deepEqual(await ids((q) => q.or('id.eq.1,and(price.lt.10,stock.gt.0)')), [1, 6])
  assert.deepEqual(await ids((q) => q.filter('name', 'imatch', '^p')), [3])
  assert.deepEqual(await ids((q) => q.filter('id', 'in', '(2,4)')), [2, 4])
  const { data, error } = await anon
    .from('categories')
    .select('id, products(id)')
    .in('id', [3, 4])
    .or('id.eq.1,id.eq.3', { referencedTable: 'products' })
    .order('id')
  assert.equal(error, null, JSON.stringify(error))
  assert.deepEqual(data, [
    { id: 3, products: [{ id: 1 }] },
    { id: 4, products: [{ id: 3 }] },
  ])
})

test('order, limit and range', async () => {
  let res = await anon.from('products').select('id').order('price', { ascending: false }).limit(3)
  assert.deepEqual(res.data.map((r) => r.id), [2, 4, 1])
  res = await anon.from('products').select('id').order('description', { ascending: false, nullsFirst: false }).limit(1)
  assert.deepEqual(res.data.map((r) => r.id), [6])
  res = await anon.from('products').select('id').order('category_id', { ascending: false }).order('id').range(2, 4)
  assert.deepEqual(res.data.map((r) => r.id), [6, 7, 5])
  res = await anon.from('categories').select('id, products(id)').eq('id', 3).order('id', { referencedTable: 'products', ascending: false }).limit(1, { referencedTable: 'products' })
  assert.deepEqual(res.data, [{ id: 3, products: [{ id: 2 }] }])
})

test('single and maybeSingle', async () => {
  let res = await anon.from('products').select('id, name').eq('id', 6).single()
  assert.equal(res.error, null)
  assert.deepEqual(res.data, { id: 6, name: 'Dune' })
  res = await anon.from('products').select('id').in('id', [1, 2]).single()
  assert.equal(res.status, 406)
  assert.equal(res.error.code, 'PGRST116')
  res = await anon.from('products').select('id').eq('id', 999).maybeSingle()
  assert.equal(res.error, null)
  assert.equal(res.data, null)
  res = await anon.from('products').select('id').eq('id', 9).maybeSingle()
  assert.deepEqual(res.data, { id: 9 })
  res = await anon.from('products').select('id').in('id', [1, 2]).maybeSingle()
  assert.equal(res.error.code, 'PGRST116')
})

test('counts', async () => {
  for (const count of ['exact', 'planned', 'estimated']) {
    const { count: n, data, error, status } = await anon.from('products').select('*', { count, head: true })
    assert.equal(error, null, `${count}: ${JSON.stringify(error)}`)
    assert.equal(data, null)
    assert.equal(typeof n, 'number', count)
    if (count === 'exact') {
      assert.equal(status, 200)
      assert.equal(n, 9)
    } else {
      // An estimate above the rows returned makes the answer partial.
      assert.ok(status === 200 || status === 206, `${count}: status ${status}`)
      assert.ok(n >= 0, `${count} = ${n}`)
    }
  }
  const { count, data } = await anon.from('products').select('id', { count: 'exact' }).gt('price', 1000)
  assert.equal(count, 2)
  assert.equal(data.length, 2)
  const svc = await service.from('products').select('*', { count: 'exact', head: true })
  assert.equal(svc.count, 10)
})

test('insert, upsert, update and delete with select', async () => {
  let res = await service.from('tags').insert({ name: 'js-one' }).select('name')
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.equal(res.status, 201)
  assert.deepEqual(res.data, [{ name: 'js-one' }])

  res = await service.from('tags').insert([{ name: 'js-two' }, { name: 'js-three' }]).select('name')
  assert.deepEqual(res.data.map((r) => r.name).sort(), ['js-three', 'js-two'])

  res = await service.from('tags').insert({ name: 'sale' })
  assert.equal(res.status, 409)
  assert.equal(res.error.code, '23505')

  res = await service.from('tags').upsert([{ name: 'sale' }, { name: 'js-four' }], { onConflict: 'name' }).select('name')
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.deepEqual(res.data.map((r) => r.name).sort(), ['js-four', 'sale'])

  res = await service.from('tags').upsert([{ name: 'new' }, { name: 'js-five' }], { onConflict: 'name', ignoreDuplicates: true }).select('name')
  assert.deepEqual(res.data, [{ name: 'js-five' }])

  res = await service.from('tags').update({ name: 'js-one-renamed' }).eq('name', 'js-one').select('name')
  assert.equal(res.status, 200)
  assert.deepEqual(res.data, [{ name: 'js-one-renamed' }])

  res = await service.from('tags').delete().like('name', 'js-%').select('name')
  assert.equal(res.status, 200)
  assert.equal(res.data.length, 5)

  res = await service.from('tags').delete()
  assert.equal(res.status, 400, 'a delete without filters is refused')

  res = await alice.from('reviews').insert({ product_id: 2, rating: 5, body: 'from postgrest-js' }).select('customer_id, products(name)').single()
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.deepEqual(res.data, { customer_id: ALICE, products: { name: 'Titan Laptop 17' } })

  res = await alice.from('orders').update({ notes: 'js' }).eq('id', 4).select('id')
  assert.deepEqual(res.data, [], 'row level security hides Bob\'s order from Alice')

  res = await anon.from('reviews').insert({ product_id: 2, rating: 1 })
  assert.equal(res.status, 401)
  assert.equal(res.error.code, '42501')
})

test('row level security', async () => {
  let res = await alice.from('orders').select('id').order('id')
  assert.deepEqual(res.data.map((r) => r.id), [1, 2, 3])
  res = await anon.from('customers').select('id')
  assert.deepEqual(res.data, [])
  res = await anon.from('internal_notes').select('*')
  assert.deepEqual(res.data, [])
  res = await service.from('orders').select('id', { count: 'exact', head: true })
  assert.equal(res.count, 6)
})

test('rpc', async () => {
  let res = await anon.rpc('add_numbers', { a: 1, b: 2 })
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.equal(res.data, 3)

  res = await anon.rpc('greet')
  assert.equal(res.data, 'Hello, world!')

  res = await anon.rpc('greet', { name: 'Ann' }, { get: true })
  assert.equal(res.data, 'Hello, Ann!')

  res = await anon.rpc('products_in_category', { category: 3 }).select('id, categories(name)').gt('price', 1000)
  assert.deepEqual(res.data, [{ id: 2, categories: { name: 'Laptops' } }])

  res = await anon.rpc('products_in_category', { category: 6 }, { get: true }).select('id').order('id', { ascending: false }).limit(1)
  assert.deepEqual(res.data, [{ id: 7 }])

  res = await anon.rpc('fib', { n: 10 }, { head: true, count: 'exact' })
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.equal(res.data, null)
  assert.equal(res.count, 10)

  res = await anon.rpc('join_words', { words: ['a', 'b', 'c'] })
  assert.equal(res.data, 'a b c')

  res = await anon.rpc('describe_product', { sku: 'BK-002' })
  assert.equal(res.data, 'sku BK-002: Dune')

  res = await anon.rpc('echo_json', { nested: { list: [1, 2] } })
  assert.deepEqual(res.data, { nested: { list: [1, 2] } })

  res = await alice.rpc('my_orders').select('id').order('id')
  assert.deepEqual(res.data.map((r) => r.id), [1, 2, 3])

  res = await alice.rpc('whoami', {}, { get: true })
  assert.equal(res.data, ALICE)

  res = await service.rpc('restock', { product_id: 7, amount: 1 })
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.equal(res.status, 204)

  res = await anon.rpc('require_payment')
  assert.equal(res.status, 402)
  assert.equal(res.error.code, 'PT402')
  assert.equal(res.error.message, 'Payment required')

  res = await anon.rpc('no_such_function')
  assert.equal(res.status, 404)
  assert.equal(res.error.code, 'PGRST202')
})

test('csv', async () => {
  const { data, error } = await anon.from('products').select('id, sku').lte('id', 3).order('id').csv()
  assert.equal(error, null, JSON.stringify(error))
  assert.equal(data, 'id,sku\n1,LAP-001\n2,LAP-002\n3,PHN-001')
})

test('other schemas', async () => {
  const inv = client(anonKey, { schema: 'inventory' })
  const { data, error } = await inv.from('warehouses').select('name').order('id')
  assert.equal(error, null, JSON.stringify(error))
  assert.deepEqual(data, [{ name: 'North' }, { name: 'South' }])
  const res = await inv.rpc('total_quantity')
  assert.equal(res.data, 115)
})

test('errors carry PostgREST codes', async () => {
  let res = await anon.from('products').select('nope')
  assert.equal(res.status, 400)
  assert.equal(res.error.code, '42703')
  res = await anon.from('no_such_table').select('*')
  assert.equal(res.status, 404)
  res = await anon.from('products').select('id, customers(id)')
  assert.equal(res.error.code, 'PGRST200')
  res = await anon.from('orders').select('id')
  assert.equal(res.status, 401)
  assert.equal(res.error.code, '42501')
})
