// tus-js-client, as Supabase's resumable upload guide uses it, against a
// running Fluxbase: FLUXBASE_URL and FLUXBASE_SERVICE_ROLE_KEY come from the
// Go test that starts the binary (test/tusjs_test.go).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import * as tus from 'tus-js-client'

const url = process.env.FLUXBASE_URL
const key = process.env.FLUXBASE_SERVICE_ROLE_KEY
const auth = { authorization: `Bearer ${key}`, apikey: key }
const endpoint = `${url}/storage/v1/upload/resumable`
const bucket = 'tus-' + randomBytes(4).toString('hex')

async function api(method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`)
  return text ? JSON.parse(text) : null
}

async function download(name) {
  const res = await fetch(`${url}/storage/v1/object/${bucket}/${name}`, { headers: auth })
  assert.equal(res.status, 200, `download ${name}`)
  return { bytes: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') }
}

function upload(file, options) {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(file, {
      endpoint,
      headers: auth,
      retryDelays: [],
      removeFingerprintOnSuccess: true,
      ...options,
      onError: reject,
      onSuccess: () => resolve(u),
    })
    u.start()
  })
}

test('setup', async () => {
  await api('POST', '/storage/v1/bucket', { name: bucket })
})

test('uploads a file in chunks, as Supabase documents', async () => {
  const file = randomBytes(700 * 1024)
  await upload(file, {
    chunkSize: 256 * 1024,
    uploadDataDuringCreation: true,
    metadata: { bucketName: bucket, objectName: 'docs/file.bin', contentType: 'application/x-test', cacheControl: '120' },
  })
  const got = await download('docs/file.bin')
  assert.ok(got.bytes.equals(file), 'the stored object is byte-identical')
  assert.equal(got.type, 'application/x-test')
})

test('an aborted upload resumes where it stopped', async () => {
  const file = randomBytes(1024 * 1024)
  const metadata = { bucketName: bucket, objectName: 'resumed.bin', contentType: 'application/octet-stream' }
  // First attempt: stop after the first chunk is acknowledged.
  let uploadUrl
  await new Promise((resolve, reject) => {
    const u = new tus.Upload(file, {
      endpoint,
      headers: auth,
      chunkSize: 200 * 1024,
      retryDelays: [],
      metadata,
      onError: reject,
      onSuccess: () => reject(new Error('the first attempt should not finish')),
      onChunkComplete: (chunk, sent) => {
        if (sent >= 200 * 1024) {
          uploadUrl = u.url
          u.abort().then(resolve, reject)
        }
      },
    })
    u.start()
  })
  assert.ok(uploadUrl?.startsWith(endpoint + '/'), `upload URL ${uploadUrl}`)
  const head = await fetch(uploadUrl, { method: 'HEAD', headers: { ...auth, 'tus-resumable': '1.0.0' } })
  assert.equal(head.status, 200)
  const offset = Number(head.headers.get('upload-offset'))
  assert.ok(offset >= 200 * 1024 && offset < file.length, `offset ${offset}`)

  // Second attempt, from the upload URL: only the rest is sent.
  let firstReported = -1
  await upload(file, {
    uploadUrl,
    chunkSize: 300 * 1024,
    metadata,
    onProgress: (sent) => {
      if (firstReported < 0) firstReported = sent
    },
  })
  assert.ok(firstReported >= offset, `resumed from ${firstReported}, not from the start`)
  const got = await download('resumed.bin')
  assert.ok(got.bytes.equals(file), 'the resumed object is byte-identical')
})

test('a signed upload URL token works as x-signature', async () => {
  const signed = await api('POST', `/storage/v1/object/upload/sign/${bucket}/signed.bin`)
  const token = signed.token ?? new URL(signed.url, url).searchParams.get('token')
  assert.ok(token)
  const file = randomBytes(50 * 1024)
  await upload(file, {
    endpoint: `${endpoint}/sign`,
    headers: { 'x-signature': token },
    metadata: { bucketName: bucket, objectName: 'signed.bin' },
  })
  const got = await download('signed.bin')
  assert.ok(got.bytes.equals(file))
})

test('a refused upload fails with the server error', async () => {
  await assert.rejects(
    upload(randomBytes(10), { metadata: { bucketName: 'no-such-bucket', objectName: 'x.bin' } }),
    (err) => {
      assert.equal(err.originalResponse?.getStatus(), 404)
      return true
    },
  )
})
