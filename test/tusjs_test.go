package test

import (
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/s3test"
	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// TestTusJS drives tus-js-client (npm), as Supabase's resumable upload
// guide uses it, against the binary, once per storage backend.
func TestTusJS(t *testing.T) {
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
			runNodeTest(t, "tus.test.mjs", map[string]string{
				"FLUXBASE_URL":              in.url,
				"FLUXBASE_SERVICE_ROLE_KEY": hs256(t, secret, "service_role"),
			})
			in.stop()
		})
	}
}
