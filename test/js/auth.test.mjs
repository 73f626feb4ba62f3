// @supabase/auth-js, unchanged, against a running Fluxbase: password
// sign-up and sign-in, the user, refresh, email OTP with the code read from
// a real SMTP server (mailpit), a PKCE magic link, TOTP MFA, the admin API
// and sign-out. Run by test/auth_js_test.go, which starts Fluxbase and
// mailpit and passes FLUXBASE_URL, FLUXBASE_ANON_KEY,
// FLUXBASE_SERVICE_ROLE_KEY and MAILPIT_URL.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomUUID } from 'node:crypto'
import { AuthClient } from '@supabase/auth-js'

const url = process.env.FLUXBASE_URL
const anonKey = process.env.FLUXBASE_ANON_KEY
const serviceKey = process.env.FLUXBASE_SERVICE_ROLE_KEY
const mailpit = process.env.MAILPIT_URL

function memoryStorage() {
  const m = new Map()
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  }
}

function client(key = anonKey, flowType = 'implicit') {
  return new AuthClient({
    url: `${url}/auth/v1`,
    headers: { apikey: key, Authorization: `Bearer ${key}` },
    storage: memoryStorage(),
    persistSession: true,
    autoRefreshToken: false,
    detectSessionInUrl: false,
    flowType,
  })
}

const unique = (name) => `${name}-${randomUUID().slice(0, 8)}@example.com`

// latestMail polls mailpit until a message to `to` arrives and returns it.
async function latestMail(to) {
  const deadline = Date.now() + 10_000
  for (;;) {
    const res = await fetch(`${mailpit}/api/v1/search?query=${encodeURIComponent(`to:"${to}"`)}`)
    const list = await res.json()
    if (list.messages?.length) {
      const msg = await fetch(`${mailpit}/api/v1/message/${list.messages[0].ID}`)
      return msg.json()
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${to}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

// totp computes an RFC 6238 code (SHA-1, 6 digits, 30 s) from a base32 secret.
function totp(secret, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of secret.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0')
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)))
  const h = createHmac('sha1', key).update(counter).digest()
  const o = h[h.length - 1] & 0xf
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3]
  return String(n % 1_000_000).padStart(6, '0')
}

test('password sign-up, sign-in, user, refresh and sign-out', async () => {
  const auth = client()
  const email = unique('ann')
  const signUp = await auth.signUp({ email, password: 'correct-horse-1', options: { data: { name: 'Ann' } } })
  assert.equal(signUp.error, null)
  assert.equal(signUp.data.user.email, email)
  assert.equal(signUp.data.user.user_metadata.name, 'Ann')

  const signIn = await auth.signInWithPassword({ email, password: 'correct-horse-1' })
  assert.equal(signIn.error, null)
  const first = signIn.data.session
  assert.ok(first.access_token)
  assert.equal(first.token_type, 'bearer')

  const wrong = await auth.signInWithPassword({ email, password: 'wrong-horse-1' })
  assert.equal(wrong.error?.code, 'invalid_credentials')

  const got = await auth.getUser()
  assert.equal(got.error, null)
  assert.equal(got.data.user.id, signUp.data.user.id)

  const updated = await auth.updateUser({ data: { name: 'Ann B.' } })
  assert.equal(updated.error, null)
  assert.equal(updated.data.user.user_metadata.name, 'Ann B.')

  const refreshed = await auth.refreshSession()
  assert.equal(refreshed.error, null)
  assert.notEqual(refreshed.data.session.refresh_token, first.refresh_token)
  assert.equal(refreshed.data.user.user_metadata.name, 'Ann B.')

  const token = refreshed.data.session.access_token
  const out = await auth.signOut()
  assert.equal(out.error, null)
  // The signed-out session's access token no longer passes the session check.
  const after = await client().getUser(token)
  assert.ok(after.error, 'getUser with a signed-out token must fail')
  assert.equal(after.data.user, null)
})

test('email OTP: signInWithOtp, then verifyOtp with the mailed code', async () => {
  const auth = client()
  const email = unique('otp')
  const sent = await auth.signInWithOtp({ email, options: { data: { via: 'otp' } } })
  assert.equal(sent.error, null)
  const mail = await latestMail(email)
  const code = mail.Text.match(/\b(\d{6})\b/)[1]
  const bad = await auth.verifyOtp({ email, token: code === '000000' ? '111111' : '000000', type: 'email' })
  assert.equal(bad.error?.code, 'otp_expired')
  const { data, error } = await auth.verifyOtp({ email, token: code, type: 'email' })
  assert.equal(error, null)
  assert.ok(data.session.access_token)
  assert.equal(data.user.email, email)
  assert.equal(data.user.user_metadata.via, 'otp')
  const me = await auth.getUser()
  assert.equal(me.data.user.email, email)
  const again = await client().verifyOtp({ email, token: code, type: 'email' })
  assert.equal(again.error?.code, 'otp_expired', 'a code works once')
})

test('PKCE magic link: exchangeCodeForSession with the code from the link', async () => {
  const auth = client(anonKey, 'pkce')
  const email = unique('pkce')
  const sent = await auth.signInWithOtp({ email })
  assert.equal(sent.error, null)
  const mail = await latestMail(email)
  const link = mail.Text.match(/https?:\/\/\S+\/auth\/v1\/verify\?\S+/)[0]
  const res = await fetch(link, { redirect: 'manual' })
  assert.equal(res.status, 303)
  const code = new URL(res.headers.get('location')).searchParams.get('code')
  assert.ok(code, res.headers.get('location'))
  const { data, error } = await auth.exchangeCodeForSession(code)
  assert.equal(error, null)
  assert.equal(data.user.email, email)
  assert.ok(data.session.access_token)
})

test('MFA: enroll TOTP, challenge, verify to aal2', async () => {
  const auth = client()
  const email = unique('mfa')
  assert.equal((await auth.signUp({ email, password: 'correct-horse-1' })).error, null)

  const enrolled = await auth.mfa.enroll({ factorType: 'totp', friendlyName: 'phone' })
  assert.equal(enrolled.error, null)
  assert.equal(enrolled.data.type, 'totp')
  assert.ok(enrolled.data.totp.qr_code.startsWith('data:image/svg+xml;utf-8,<svg'))
  assert.ok(enrolled.data.totp.uri.startsWith('otpauth://totp/'))

  const before = await auth.mfa.getAuthenticatorAssuranceLevel()
  assert.equal(before.data.currentLevel, 'aal1')

  const challenge = await auth.mfa.challenge({ factorId: enrolled.data.id })
  assert.equal(challenge.error, null)
  const wrong = await auth.mfa.verify({ factorId: enrolled.data.id, challengeId: challenge.data.id, code: '12345x' })
  assert.equal(wrong.error?.code, 'mfa_verification_failed')
  const verified = await auth.mfa.verify({
    factorId: enrolled.data.id,
    challengeId: challenge.data.id,
    code: totp(enrolled.data.totp.secret),
  })
  assert.equal(verified.error, null)
  assert.ok(verified.data.access_token)

  const after = await auth.mfa.getAuthenticatorAssuranceLevel()
  assert.equal(after.data.currentLevel, 'aal2')
  assert.equal(after.data.nextLevel, 'aal2')
  const factors = await auth.mfa.listFactors()
  assert.equal(factors.error, null)
  assert.equal(factors.data.totp.length, 1)
  assert.equal(factors.data.totp[0].status, 'verified')

  const gone = await auth.mfa.unenroll({ factorId: enrolled.data.id })
  assert.equal(gone.error, null)
})

test('admin: createUser and listUsers', async () => {
  const admin = client(serviceKey).admin
  const email = unique('admin')
  const created = await admin.createUser({ email, password: 'correct-horse-1', email_confirm: true, user_metadata: { by: 'admin' } })
  assert.equal(created.error, null)
  assert.equal(created.data.user.email, email)
  assert.ok(created.data.user.email_confirmed_at)

  const list = await admin.listUsers({ page: 1, perPage: 1000 })
  assert.equal(list.error, null)
  assert.ok(list.data.users.some((u) => u.email === email))

  const denied = await client().admin.listUsers()
  assert.ok(denied.error, 'the anon key is not an admin')

  const link = await admin.generateLink({ type: 'magiclink', email })
  assert.equal(link.error, null)
  assert.equal(link.data.properties.verification_type, 'magiclink')
  const viaHash = await client().verifyOtp({ token_hash: link.data.properties.hashed_token, type: 'magiclink' })
  assert.equal(viaHash.error, null)
  assert.equal(viaHash.data.user.email, email)
})
