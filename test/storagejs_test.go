package test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxbase/fluxbase/internal/testutil/s3test"
	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// TestStorageJS drives @supabase/storage-js against the binary, once per
// storage backend (local disk, and S3 served by versitygw).
func TestStorageJS(t *testing.T) {
	forEachBackend(t, func(t *testing.T, in *instance, secret string) {
		runNodeTest(t, "storage.test.mjs", map[string]string{
			"FLUXBASE_URL":              in.url,
			"FLUXBASE_ANON_KEY":         hs256(t, secret, "anon"),
			"FLUXBASE_SERVICE_ROLE_KEY": hs256(t, secret, "service_role"),
			"FLUXBASE_TEST_PNG":         testPNG(t),
		})
	})
}

// forEachBackend runs fn, in parallel subtests, against a fluxbase
// serving storage from the local disk and from S3 (a versitygw it starts),
// with HS256 tokens under a secret fn receives to mint keys.
func forEachBackend(t *testing.T, fn func(t *testing.T, in *instance, secret string)) {
	for _, backend := range []string{"local", "s3"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			secret := randomSecret(t)
			env := []string{"FLUXBASE_AUTH_JWT_ALGORITHM=HS256", "FLUXBASE_AUTH_JWT_SECRET=" + secret}
			if backend == "s3" {
				s3 := s3test.StartBinary(t, testservers.ToolPath(t, "versitygw"))
				env = append(env, "FLUXBASE_STORAGE_BACKEND=s3",
					"FLUXBASE_STORAGE_S3_ENDPOINT="+s3.Endpoint,
					"FLUXBASE_STORAGE_S3_BUCKET="+s3.NewBucket(t),
					"FLUXBASE_STORAGE_S3_ACCESS_KEY="+s3.AccessKey,
					"FLUXBASE_STORAGE_S3_SECRET_KEY="+s3.SecretKey)
			}
			in := start(t, dataDir(t), env)
			in.waitReady(60 * time.Second)
			fn(t, in, secret)
			in.stop()
		})
	}
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hs256 mints a Supabase-style API key for role.
func hs256(t *testing.T, secret, role string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"role": role, "iss": "supabase", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testPNG is a 32x24 gradient, base64.
func testPNG(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := 0; y < 24; y++ {
		for x := 0; x < 32; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 10), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}
