package storage_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xwebp "golang.org/x/image/webp"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), uint8(x * y), 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// bombPNG is a valid PNG header claiming w×h pixels, with a few bytes of
// data: what a decompression bomb looks like before it is decoded.
func bombPNG(t testing.TB, w, h uint32) []byte {
	data := pngOf(t, 4, 4)
	binary.BigEndian.PutUint32(data[16:20], w)
	binary.BigEndian.PutUint32(data[20:24], h)
	binary.BigEndian.PutUint32(data[29:33], crc32.ChecksumIEEE(data[12:29]))
	return data
}

func imageSize(t testing.TB, data []byte, contentType string) image.Point {
	t.Helper()
	var cfg image.Config
	var err error
	if contentType == "image/webp" {
		cfg, err = xwebp.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, _, err = image.DecodeConfig(bytes.NewReader(data))
	}
	require.NoError(t, err, "result is not a %s", contentType)
	return image.Pt(cfg.Width, cfg.Height)
}

func TestRenderImage(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		e.createBucket(t, "pics", false)
		e.createBucket(t, "open", true)
		photo := pngOf(t, 400, 300)
		e.mustDo(t, 200, "POST", "/storage/v1/object/pics/a/photo.png", e.service("Content-Type", "image/png"), photo)
		e.mustDo(t, 200, "POST", "/storage/v1/object/open/photo.png", e.service("Content-Type", "image/png"), photo)
		e.mustDo(t, 200, "POST", "/storage/v1/object/open/with%20space/%C3%A9t%C3%A9%3F.png", e.service("Content-Type", "image/png"), photo)
		e.mustDo(t, 200, "POST", "/storage/v1/object/pics/bomb.png", e.service("Content-Type", "image/png"), bombPNG(t, 60000, 60000))
		e.mustDo(t, 200, "POST", "/storage/v1/object/pics/notes.txt", e.service("Content-Type", "text/plain"), "not an image")
		_, err := e.DB.DB.Admin.Exec(context.Background(), `create policy "own folder" on storage.objects
			for select to authenticated using (bucket_id = 'pics' and (storage.foldername(name))[1] = auth.uid()::text)`)
		require.NoError(t, err)
		e.mustDo(t, 200, "POST", "/storage/v1/object/pics/"+e.uid1+"/mine.png", e.service("Content-Type", "image/png"), photo)

		size := func(w, h int, ct string) func(testing.TB, *apitest.Server, *http.Response, []byte) {
			return func(t testing.TB, _ *apitest.Server, res *http.Response, body []byte) {
				assert.Equal(t, ct, res.Header.Get("Content-Type"))
				assert.Equal(t, image.Pt(w, h), imageSize(t, body, ct))
				assert.NotEmpty(t, res.Header.Get("ETag"))
				assert.NotEmpty(t, res.Header.Get("Last-Modified"))
			}
		}
		apitest.Run(t, e.Server, []apitest.Scenario{
			{Name: "width keeps the aspect ratio", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=100",
				Headers: e.service(), ExpectedStatus: 200, After: size(100, 75, "image/png"),
				ExpectedHeaders: map[string]string{"X-Transformations": "width:100,resize:cover,format:png", "Vary": "Accept"}},
			{Name: "cover crops to the box", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=100&height=100",
				Headers: e.service(), ExpectedStatus: 200, After: size(100, 100, "image/png")},
			{Name: "contain fits in the box", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=100&height=100&resize=contain",
				Headers: e.service(), ExpectedStatus: 200, After: size(100, 75, "image/png")},
			{Name: "fill stretches", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=100&height=20&resize=fill",
				Headers: e.service(), ExpectedStatus: 200, After: size(100, 20, "image/png")},
			{Name: "webp when the client takes it", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=80",
				Headers: e.service("Accept", "image/avif,image/webp,*/*"), ExpectedStatus: 200, After: size(80, 60, "image/webp")},
			{Name: "origin keeps the format", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=80&format=origin",
				Headers: e.service("Accept", "image/webp"), ExpectedStatus: 200, After: size(80, 60, "image/png"),
				ExpectedHeaders: map[string]string{"Vary": ""}},
			{Name: "jpeg with a quality", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=80&format=jpeg&quality=40",
				Headers: e.service(), ExpectedStatus: 200, After: size(80, 60, "image/jpeg")},
			{Name: "never enlarged", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=2000",
				Headers: e.service(), ExpectedStatus: 200, After: size(400, 300, "image/png")},
			{Name: "download names the file", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=10&download=small.png",
				Headers: e.service(), ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
					cd := res.Header.Get("Content-Disposition")
					assert.True(t, strings.HasPrefix(cd, "attachment;"), cd)
					assert.Contains(t, cd, "small.png")
				}},
			{Name: "a public bucket needs no token", Path: "/storage/v1/render/image/public/open/photo.png?width=40",
				ExpectedStatus: 200, After: size(40, 30, "image/png")},
			{Name: "an encoded name", Path: "/storage/v1/render/image/public/open/with%20space/%C3%A9t%C3%A9%3F.png?width=40",
				ExpectedStatus: 200, After: size(40, 30, "image/png")},
			{Name: "a traversal name", Path: "/storage/v1/render/image/public/open/..%2F..%2Fetc%2Fpasswd?width=40",
				ExpectedStatus: 400},
			{Name: "a private bucket is not public", Path: "/storage/v1/render/image/public/pics/a/photo.png?width=40",
				ExpectedStatus: 404, ExpectedContent: []string{`"statusCode":"404"`}},
			{Name: "RLS decides: anon sees nothing", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=40",
				ExpectedStatus: 404},
			{Name: "RLS decides: a user sees their folder", Path: "/storage/v1/render/image/authenticated/pics/" + e.uid1 + "/mine.png?width=40",
				Headers: as(e.user1), ExpectedStatus: 200, After: size(40, 30, "image/png")},
			{Name: "RLS decides: not another's", Path: "/storage/v1/render/image/authenticated/pics/" + e.uid1 + "/mine.png?width=40",
				Headers: as(e.user2), ExpectedStatus: 404},
			{Name: "the native route", Path: "/api/v1/storage/render/pics/a/photo.png?width=50",
				Headers: e.service(), ExpectedStatus: 200, After: size(50, 38, "image/png")},
			{Name: "a decompression bomb is refused from its header", Path: "/storage/v1/render/image/authenticated/pics/bomb.png?width=10",
				Headers: e.service(), ExpectedStatus: 422, ExpectedContent: []string{`"code":"image_too_large"`}},
			{Name: "not an image", Path: "/storage/v1/render/image/authenticated/pics/notes.txt?width=10",
				Headers: e.service(), ExpectedStatus: 422, ExpectedContent: []string{`"statusCode":"422"`}},
			{Name: "a missing object", Path: "/storage/v1/render/image/authenticated/pics/none.png?width=10",
				Headers: e.service(), ExpectedStatus: 404},
			{Name: "bad parameters", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?width=-3",
				Headers: e.service(), ExpectedStatus: 400, ExpectedContent: []string{`"statusCode":"400"`, "width"}},
			{Name: "an unknown resize mode", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?resize=zoom",
				Headers: e.service(), ExpectedStatus: 400},
			{Name: "a quality out of range", Path: "/storage/v1/render/image/authenticated/pics/a/photo.png?quality=5",
				Headers: e.service(), ExpectedStatus: 400},
			{Name: "native errors are Fluxbase's", Path: "/api/v1/storage/render/pics/a/photo.png?format=gif",
				Headers: e.service(), ExpectedStatus: 400, ExpectedContent: []string{`"code":"invalid_transformation"`}},
		})

		// Conditional requests: the ETag names this rendering of this
		// version; an overwrite changes it.
		res, _ := e.Do(t, "GET", "/storage/v1/render/image/authenticated/pics/a/photo.png?width=60", e.service(), nil)
		etag := res.Header.Get("ETag")
		require.NotEmpty(t, etag)
		res, body := e.Do(t, "GET", "/storage/v1/render/image/authenticated/pics/a/photo.png?width=60", e.service("If-None-Match", etag), nil)
		assert.Equal(t, http.StatusNotModified, res.StatusCode)
		assert.Empty(t, body)
		res, _ = e.Do(t, "GET", "/storage/v1/render/image/authenticated/pics/a/photo.png?width=61", e.service("If-None-Match", etag), nil)
		assert.Equal(t, http.StatusOK, res.StatusCode)
		e.mustDo(t, 200, "PUT", "/storage/v1/object/pics/a/photo.png", e.service("Content-Type", "image/png"), pngOf(t, 200, 200))
		res, body = e.Do(t, "GET", "/storage/v1/render/image/authenticated/pics/a/photo.png?width=60", e.service("If-None-Match", etag), nil)
		require.Equal(t, http.StatusOK, res.StatusCode, "the overwritten object renders anew")
		assert.Equal(t, image.Pt(60, 60), imageSize(t, body, "image/png"))

		// A signed download URL's token renders too; a forged one does not.
		signed := e.mustDo(t, 200, "POST", "/storage/v1/object/sign/pics/a/photo.png", e.service("Content-Type", "application/json"), `{"expiresIn":60}`)
		var su struct{ SignedURL string }
		require.NoError(t, json.Unmarshal([]byte(signed), &su))
		_, token, ok := strings.Cut(su.SignedURL, "token=")
		require.True(t, ok, su.SignedURL)
		res, body = e.Do(t, "GET", "/storage/v1/render/image/sign/pics/a/photo.png?width=30&token="+token, nil, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		assert.Equal(t, image.Pt(30, 30), imageSize(t, body, "image/png"))
		res, _ = e.Do(t, "GET", "/storage/v1/render/image/sign/pics/a/photo.png?width=30&token="+token+"x", nil, nil)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode)
		res, _ = e.Do(t, "GET", "/storage/v1/render/image/sign/pics/bomb.png?width=30&token="+token, nil, nil)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "a token for another object")
	})
}

// A URL signed with a transformation renders that transformation, and
// only it: the transformation is part of what the token signs.
func TestSignedTransformURL(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		e.createBucket(t, "pics", false)
		e.mustDo(t, 200, "POST", "/storage/v1/object/pics/a b/photo.png", e.service("Content-Type", "image/png"), pngOf(t, 400, 300))
		_, err := e.DB.DB.Admin.Exec(context.Background(), `create policy "own folder" on storage.objects
			for select to authenticated using (bucket_id = 'pics' and (storage.foldername(name))[1] = auth.uid()::text)`)
		require.NoError(t, err)

		sign := func(t testing.TB, headers map[string]string, body string) (int, string) {
			code, b, _ := e.do(t, "POST", "/storage/v1/object/sign/pics/a b/photo.png", headers, body)
			return code, b
		}
		json200 := e.service("Content-Type", "application/json")
		code, body := sign(t, json200, `{"expiresIn":60,"transform":{"width":100,"height":100,"resize":"contain","format":"origin","quality":70}}`)
		require.Equal(t, 200, code, body)
		var su struct{ SignedURL string }
		require.NoError(t, json.Unmarshal([]byte(body), &su))
		require.True(t, strings.HasPrefix(su.SignedURL, "/render/image/sign/pics/a b/photo.png?token="), su.SignedURL)
		u := "/storage/v1" + strings.ReplaceAll(su.SignedURL, " ", "%20")
		_, token, _ := strings.Cut(su.SignedURL, "token=")

		// No credentials: the token decides, and it says 100×100 contain.
		res, img := e.Do(t, "GET", u, nil, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", img)
		assert.Equal(t, "image/png", res.Header.Get("Content-Type"))
		assert.Equal(t, image.Pt(100, 75), imageSize(t, img, "image/png"))
		assert.Equal(t, "width:100,height:100,resize:contain,quality:70,format:png", res.Header.Get("X-Transformations"))
		// storage-js appends &download.
		res, _ = e.Do(t, "GET", u+"&download=thumb.png", nil, nil)
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.Contains(t, res.Header.Get("Content-Disposition"), "thumb.png")
		// Repeating the signed transformation is allowed; changing it is not.
		res, _ = e.Do(t, "GET", u+"&width=100&height=100&resize=contain&format=origin&quality=70", nil, nil)
		assert.Equal(t, http.StatusOK, res.StatusCode)
		for _, q := range []string{"&width=400", "&width=100&height=100", "&resize=fill", "&format=jpeg", "&quality=100"} {
			res, b := e.Do(t, "GET", u+q, nil, nil)
			assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%s: %s", q, b)
			assert.Contains(t, string(b), "InvalidJWT", q)
		}
		// A token whose signed width was edited no longer verifies.
		payload, sig, ok := strings.Cut(token, ".")
		require.True(t, ok)
		raw, err := base64.RawURLEncoding.DecodeString(payload)
		require.NoError(t, err)
		require.Contains(t, string(raw), "width=100")
		edited := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "width=100", "width=900", 1)))
		res, b := e.Do(t, "GET", "/storage/v1/render/image/sign/pics/a%20b/photo.png?token="+edited+"."+sig, nil, nil)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%s", b)
		assert.Contains(t, string(b), "invalid signature")
		// The token opens the rendering, not the original.
		res, b = e.Do(t, "GET", "/storage/v1/object/sign/pics/a%20b/photo.png?token="+token, nil, nil)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%s", b)
		res, _ = e.Do(t, "GET", "/api/v1/storage/pics/a%20b/photo.png?token="+token, nil, nil)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode)
		// A plain signed URL still points at the object.
		code, body = sign(t, json200, `{"expiresIn":60}`)
		require.Equal(t, 200, code, body)
		assert.Contains(t, body, `"/object/sign/pics/a b/photo.png?token=`)

		// Signing still needs SELECT, and the transformation is validated.
		code, _ = sign(t, as(e.user1, "Content-Type", "application/json"), `{"expiresIn":60,"transform":{"width":100}}`)
		assert.Equal(t, 404, code)
		for _, bad := range []string{`{"width":-1}`, `{"width":"wide"}`, `{"resize":"zoom"}`, `{"quality":5}`, `{"format":"gif"}`, `"w100"`} {
			code, b := sign(t, json200, `{"expiresIn":60,"transform":`+bad+`}`)
			assert.Equal(t, 400, code, "%s: %s", bad, b)
		}

		// Natively: the URL is the native render route's, with the token.
		code, body, _ = e.do(t, "POST", "/api/v1/storage/pics/a%20b/photo.png/signed-url", json200,
			`{"expires_in":60,"transform":{"width":40,"format":"jpeg"}}`)
		require.Equal(t, 200, code, body)
		var ns struct{ URL string }
		require.NoError(t, json.Unmarshal([]byte(body), &ns))
		require.Contains(t, ns.URL, "/api/v1/storage/render/pics/a%20b/photo.png?token=")
		nres, err := http.Get(ns.URL)
		require.NoError(t, err)
		nimg, err := io.ReadAll(nres.Body)
		nres.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, nres.StatusCode, "%s", nimg)
		assert.Equal(t, image.Pt(40, 30), imageSize(t, nimg, "image/jpeg"))
		nres, err = http.Get(ns.URL + "&width=400")
		require.NoError(t, err)
		nres.Body.Close()
		assert.Equal(t, http.StatusBadRequest, nres.StatusCode)
		code, _, _ = e.do(t, "POST", "/api/v1/storage/pics/up.png/signed-url", json200, `{"upload":true,"transform":{"width":40}}`)
		assert.Equal(t, 400, code)
	})
}

// The storage.image and storage.resumable_expiry settings reach the
// transformer and the resumable uploads.
func TestImageAndResumableSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local", func(c *configT) {
		c.Storage.Image.MaxSourcePixels = 100 * 100
		c.Storage.Image.MaxOutputSide = 50
		c.Storage.Image.MaxSourceBytes = 64 << 10
		c.Storage.ResumableExpiry = 90 * time.Minute
	})
	e.createBucket(t, "pics", false)
	e.mustDo(t, 200, "POST", "/storage/v1/object/pics/small.png", e.service("Content-Type", "image/png"), pngOf(t, 100, 80))
	e.mustDo(t, 200, "POST", "/storage/v1/object/pics/large.png", e.service("Content-Type", "image/png"), pngOf(t, 120, 100))
	big := bytes.Repeat([]byte{0}, 70<<10)
	copy(big, pngOf(t, 10, 10))
	e.mustDo(t, 200, "POST", "/storage/v1/object/pics/heavy.png", e.service("Content-Type", "image/png"), big)

	res, body := e.Do(t, "GET", "/storage/v1/render/image/authenticated/pics/small.png?width=90&format=png", e.service(), nil)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	assert.Equal(t, image.Pt(50, 40), imageSize(t, body, "image/png"), "width clamped to max_output_side")
	res, body = e.Do(t, "GET", "/storage/v1/render/image/authenticated/pics/large.png?width=10", e.service(), nil)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "%s: over max_source_pixels", body)
	res, body = e.Do(t, "GET", "/storage/v1/render/image/authenticated/pics/heavy.png?width=10", e.service(), nil)
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "%s: over max_source_bytes", body)

	res, body = e.Do(t, "POST", "/storage/v1/upload/resumable", e.service("Tus-Resumable", "1.0.0", "Upload-Length", "10",
		"Upload-Metadata", "bucketName "+base64.StdEncoding.EncodeToString([]byte("pics"))+",objectName "+base64.StdEncoding.EncodeToString([]byte("r.bin"))), nil)
	require.Equal(t, http.StatusCreated, res.StatusCode, "%s", body)
	expires, err := http.ParseTime(res.Header.Get("Upload-Expires"))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(90*time.Minute), expires, 2*time.Minute)
}
