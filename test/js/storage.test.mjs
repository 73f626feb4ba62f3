// @supabase/storage-js, unchanged, against a running Fluxbase. The Go test
// test/storage_js_test.go starts the server and passes its URL and keys.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { StorageClient } from '@supabase/storage-js'

const url = process.env.FLUXBASE_URL + '/storage/v1'
const serviceKey = process.env.FLUXBASE_SERVICE_ROLE_KEY
const anonKey = process.env.FLUXBASE_ANON_KEY
const png = Buffer.from(process.env.FLUXBASE_TEST_PNG, 'base64')

const admin = new StorageClient(url, { apikey: serviceKey, Authorization: `Bearer ${serviceKey}` })
const anon = new StorageClient(url, { apikey: anonKey, Authorization: `Bearer ${anonKey}` })

const ok = ({ data, error }) => {
  assert.equal(error, null, error && `${error.name}: ${error.message} (${error.statusCode})`)
  return data
}

test('buckets', async () => {
  assert.deepEqual(ok(await admin.createBucket('docs', { public: false, fileSizeLimit: '5MB' })), { name: 'docs' })
  ok(await admin.createBucket('avatars', { public: true, allowedMimeTypes: ['image/*'] }))
  const dup = await admin.createBucket('docs')
  assert.equal(dup.error.status, 409)
  const b = ok(await admin.getBucket('docs'))
  assert.equal(b.id, 'docs')
  assert.equal(b.public, false)
  assert.equal(b.file_size_limit, 5 * 1024 * 1024)
  const names = ok(await admin.listBuckets()).map((x) => x.id).sort()
  assert.deepEqual(names, ['avatars', 'docs'])
  ok(await admin.updateBucket('docs', { public: false, fileSizeLimit: '10MB' }))
  assert.equal(ok(await admin.getBucket('docs')).file_size_limit, 10 * 1024 * 1024)
  const missing = await admin.getBucket('nope')
  assert.equal(missing.error.status, 404)
})

test('upload, download, info, list', async () => {
  const docs = admin.from('docs')
  const up = ok(await docs.upload('reports/2026/q1.txt', 'first quarter', { contentType: 'text/plain', cacheControl: '60', metadata: { team: 'ops' } }))
  assert.equal(up.path, 'reports/2026/q1.txt')
  assert.equal(up.fullPath, 'docs/reports/2026/q1.txt')
  assert.ok(up.id)

  const dup = await docs.upload('reports/2026/q1.txt', 'again')
  assert.equal(dup.error.status, 409)
  ok(await docs.upload('reports/2026/q1.txt', 'first quarter, revised', { upsert: true, contentType: 'text/plain' }))
  ok(await docs.update('reports/2026/q2.txt', new Blob(['second quarter'], { type: 'text/plain' })))

  const blob = ok(await docs.download('reports/2026/q1.txt'))
  assert.equal(await blob.text(), 'first quarter, revised')
  const blob2 = ok(await docs.download('reports/2026/q2.txt'))
  assert.equal(await blob2.text(), 'second quarter')

  const info = ok(await docs.info('reports/2026/q2.txt'))
  assert.equal(info.name, 'reports/2026/q2.txt')
  assert.equal(info.size, 'second quarter'.length)
  assert.equal(info.contentType, 'text/plain')
  assert.equal(ok(await docs.exists('reports/2026/q2.txt')), true)
  const gone = await docs.exists('reports/2026/none.txt')
  assert.equal(gone.data, false)

  const top = ok(await docs.list())
  assert.deepEqual(top.map((e) => [e.name, e.id]), [['reports', null]])
  const files = ok(await docs.list('reports/2026', { sortBy: { column: 'name', order: 'desc' } }))
  assert.deepEqual(files.map((e) => e.name), ['q2.txt', 'q1.txt'])
  assert.equal(files[1].metadata.mimetype, 'text/plain')
  assert.equal(files[1].metadata.size, 'first quarter, revised'.length)
  const searched = ok(await docs.list('reports/2026', { search: 'q1' }))
  assert.deepEqual(searched.map((e) => e.name), ['q1.txt'])

  const big = await docs.upload('big.bin', new Uint8Array(11 * 1024 * 1024))
  assert.equal(big.error.status, 413)
})

test('signed URLs', async () => {
  const docs = admin.from('docs')
  const { signedUrl } = ok(await docs.createSignedUrl('reports/2026/q2.txt', 60))
  let res = await fetch(signedUrl)
  assert.equal(res.status, 200)
  assert.equal(await res.text(), 'second quarter')

  const dl = ok(await docs.createSignedUrl('reports/2026/q2.txt', 60, { download: 'Q2.txt' }))
  res = await fetch(dl.signedUrl)
  assert.match(res.headers.get('content-disposition'), /attachment; filename="Q2.txt"/)

  res = await fetch(signedUrl.replace(/token=[^&]+/, 'token=forged.token'))
  assert.equal(res.status, 400)

  const many = ok(await docs.createSignedUrls(['reports/2026/q1.txt', 'nope.txt'], 60))
  assert.ok(many[0].signedUrl)
  assert.equal(many[1].signedUrl, null)
  assert.ok(many[1].error)

  const signedUp = ok(await docs.createSignedUploadUrl('inbox/from-client.txt'))
  assert.ok(signedUp.token)
  const uploaded = ok(await anon.from('docs').uploadToSignedUrl('inbox/from-client.txt', signedUp.token, 'sent with a signed URL', { contentType: 'text/plain' }))
  assert.equal(uploaded.fullPath, 'docs/inbox/from-client.txt')
  assert.equal(await ok(await docs.download('inbox/from-client.txt')).text(), 'sent with a signed URL')
})

test('move, copy, remove', async () => {
  const docs = admin.from('docs')
  ok(await docs.upload('tmp/a.txt', 'aaa', { contentType: 'text/plain' }))
  assert.equal(ok(await docs.move('tmp/a.txt', 'tmp/b.txt')).message, 'Successfully moved')
  assert.equal((await docs.download('tmp/a.txt')).error.status, 404)
  assert.equal(ok(await docs.copy('tmp/b.txt', 'tmp/c.txt')).path, 'docs/tmp/c.txt')
  assert.equal(await ok(await docs.download('tmp/c.txt')).text(), 'aaa')
  ok(await docs.copy('tmp/b.txt', 'moved.txt', { destinationBucket: 'docs' }))
  const removed = ok(await docs.remove(['tmp/b.txt', 'tmp/c.txt', 'moved.txt']))
  assert.deepEqual(removed.map((o) => o.name).sort(), ['moved.txt', 'tmp/b.txt', 'tmp/c.txt'])
  assert.deepEqual(ok(await docs.list('tmp')), [])
})

test('public URLs and image transforms', async () => {
  const avatars = admin.from('avatars')
  ok(await avatars.upload('u1/me.png', png, { contentType: 'image/png' }))
  const refused = await avatars.upload('u1/me.txt', 'text', { contentType: 'text/plain' })
  assert.equal(refused.error.status, 415)

  const { publicUrl } = anon.from('avatars').getPublicUrl('u1/me.png').data
  let res = await fetch(publicUrl)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'image/png')
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), png)

  const etag = res.headers.get('etag')
  res = await fetch(publicUrl, { headers: { 'If-None-Match': etag } })
  assert.equal(res.status, 304)
  res = await fetch(publicUrl, { headers: { Range: 'bytes=0-7' } })
  assert.equal(res.status, 206)
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), png.subarray(0, 8))

  const small = ok(await avatars.download('u1/me.png', { transform: { width: 8, height: 8, resize: 'cover', format: 'origin' } }))
  const out = Buffer.from(await small.arrayBuffer())
  assert.equal(out.subarray(1, 4).toString(), 'PNG')
  assert.equal(out.readUInt32BE(16), 8) // IHDR width
  assert.equal(out.readUInt32BE(20), 8) // IHDR height

  const transformedPublic = anon.from('avatars').getPublicUrl('u1/me.png', { transform: { width: 4, height: 4 } }).data.publicUrl
  res = await fetch(transformedPublic)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type'), /^image\//)

  // A signed URL of a transformed image: the transformation is sealed in
  // the token, and the URL is a render URL that anyone holding it can use.
  const { signedUrl } = ok(await avatars.createSignedUrl('u1/me.png', 60, {
    transform: { width: 16, height: 16, resize: 'contain', format: 'origin' },
    download: 'thumb.png',
  }))
  assert.match(signedUrl, /\/storage\/v1\/render\/image\/sign\/avatars\/u1\/me\.png\?token=[^&]+&download=thumb\.png$/)
  res = await fetch(signedUrl)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'image/png')
  assert.match(res.headers.get('content-disposition'), /thumb\.png/)
  assert.equal(res.headers.get('x-transformations'), 'width:16,height:16,resize:contain,format:png')
  const thumb = Buffer.from(await res.arrayBuffer())
  assert.equal(thumb.readUInt32BE(16), 16) // 32×24 contained in 16×16
  assert.equal(thumb.readUInt32BE(20), 12)
  // Asking the signed URL for another size is refused; so is the original.
  res = await fetch(signedUrl.replace('&download=thumb.png', '&width=32'))
  assert.equal(res.status, 400)
  assert.equal((await res.json()).error, 'InvalidJWT')
  res = await fetch(signedUrl.replace('/render/image/sign/', '/object/sign/'))
  assert.equal(res.status, 400)
  await res.body?.cancel()
})

test('empty and delete buckets', async () => {
  const notEmpty = await admin.deleteBucket('docs')
  assert.equal(notEmpty.error.status, 409)
  ok(await admin.emptyBucket('docs'))
  ok(await admin.deleteBucket('docs'))
  ok(await admin.emptyBucket('avatars'))
  ok(await admin.deleteBucket('avatars'))
  assert.deepEqual(ok(await admin.listBuckets()), [])
})
