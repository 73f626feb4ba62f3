package storage

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xwebp "golang.org/x/image/webp"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// testImage returns a w×h image with a gradient, so that encoders cannot
// collapse it to nothing and crops are visible.
func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}))
	return b.Bytes()
}

// bytesSource is an ImageSource over data that counts how often it is read.
func bytesSource(identity string, data []byte, opened *atomic.Int32) ImageSource {
	return ImageSource{
		Identity: identity,
		Size:     int64(len(data)),
		Open: func(context.Context) (io.ReadCloser, error) {
			if opened != nil {
				opened.Add(1)
			}
			return io.NopCloser(bytes.NewReader(data)), nil
		},
	}
}

func errorStatus(t *testing.T, err error) (int, string) {
	t.Helper()
	var he *httpx.Error
	require.True(t, errors.As(err, &he), "want an *httpx.Error, got %v", err)
	return he.Status, he.Code
}

func TestParseTransformOptions(t *testing.T) {
	limits := DefaultImageLimits()
	ok := []struct {
		query string
		want  TransformOptions
	}{
		{"", TransformOptions{Resize: ResizeCover, Format: FormatAuto}},
		{"width=100&height=50", TransformOptions{Width: 100, Height: 50, Resize: ResizeCover}},
		{"width=100&resize=contain&format=origin&quality=55", TransformOptions{Width: 100, Resize: ResizeContain, Format: FormatOrigin, Quality: 55}},
		{"height=10&resize=FILL&format=webp", TransformOptions{Height: 10, Resize: ResizeFill, Format: FormatWebP}},
		{"format=jpg", TransformOptions{Resize: ResizeCover, Format: FormatJPEG}},
		{"format=png", TransformOptions{Resize: ResizeCover, Format: FormatPNG}},
		{"format=avif", TransformOptions{Resize: ResizeCover, Format: FormatAuto}},
		// Clamped to the maximum, as Supabase does.
		{"width=999999", TransformOptions{Width: limits.MaxOutputSide, Resize: ResizeCover}},
	}
	for _, c := range ok {
		q, err := url.ParseQuery(c.query)
		require.NoError(t, err)
		got, err := ParseTransformOptions(q, limits)
		require.NoError(t, err, c.query)
		assert.Equal(t, c.want, got, c.query)
	}
	bad := []string{
		"width=-1", "width=abc", "height=1.5", "width=99999999999999999999",
		"resize=stretch", "format=gif", "quality=19", "quality=101", "quality=x",
	}
	for _, query := range bad {
		q, err := url.ParseQuery(query)
		require.NoError(t, err)
		_, err = ParseTransformOptions(q, limits)
		require.Error(t, err, query)
		status, code := errorStatus(t, err)
		assert.Equal(t, http.StatusBadRequest, status, query)
		assert.Equal(t, "invalid_transformation", code, query)
	}
}

func TestTargetSize(t *testing.T) {
	cases := []struct {
		w, h   int
		opts   TransformOptions
		tw, th int
		crop   bool
	}{
		{400, 300, TransformOptions{}, 400, 300, false},
		{400, 300, TransformOptions{Width: 100}, 100, 75, false},
		{400, 300, TransformOptions{Height: 150}, 200, 150, false},
		{400, 300, TransformOptions{Width: 100, Height: 100, Resize: ResizeCover}, 100, 100, true},
		{400, 300, TransformOptions{Width: 100, Height: 100, Resize: ResizeContain}, 100, 75, false},
		{400, 300, TransformOptions{Width: 100, Height: 100, Resize: ResizeFill}, 100, 100, false},
		// Never enlarged: the box shrinks to the source, keeping its shape.
		{400, 300, TransformOptions{Width: 1000}, 400, 300, false},
		{400, 300, TransformOptions{Width: 800, Height: 800, Resize: ResizeCover}, 300, 300, true},
		{400, 300, TransformOptions{Width: 800, Height: 800, Resize: ResizeContain}, 400, 300, false},
		{400, 300, TransformOptions{Width: 800, Height: 200, Resize: ResizeFill}, 400, 100, false},
		// Never smaller than one pixel.
		{4000, 10, TransformOptions{Width: 10}, 10, 1, false},
	}
	for _, c := range cases {
		tw, th, crop := targetSize(c.w, c.h, c.opts)
		assert.Equal(t, []any{c.tw, c.th, c.crop}, []any{tw, th, crop}, "%dx%d %+v", c.w, c.h, c.opts)
	}
}

func TestAcceptsType(t *testing.T) {
	assert.True(t, acceptsType("image/avif,image/webp,*/*", "image/webp"))
	assert.True(t, acceptsType("image/*", "image/webp"))
	assert.True(t, acceptsType("text/html, image/webp;q=0.8", "image/webp"))
	assert.False(t, acceptsType("image/webp;q=0", "image/webp"))
	assert.False(t, acceptsType("*/*", "image/webp"))
	assert.False(t, acceptsType("", "image/webp"))
	assert.False(t, acceptsType("image/png", "image/webp"))
}

func TestOutputFormat(t *testing.T) {
	assert.Equal(t, FormatWebP, outputFormat(TransformOptions{}, "jpeg", "image/webp"))
	assert.Equal(t, FormatJPEG, outputFormat(TransformOptions{}, "jpeg", "*/*"))
	assert.Equal(t, FormatPNG, outputFormat(TransformOptions{}, "gif", ""))
	assert.Equal(t, FormatWebP, outputFormat(TransformOptions{}, "webp", ""))
	assert.Equal(t, FormatJPEG, outputFormat(TransformOptions{Format: FormatOrigin}, "jpeg", "image/webp"))
	assert.Equal(t, FormatPNG, outputFormat(TransformOptions{Format: FormatPNG}, "jpeg", "image/webp"))
	assert.Equal(t, FormatWebP, outputFormat(TransformOptions{Format: FormatWebP}, "png", ""))
}

func decodeAny(t *testing.T, data []byte) (image.Image, string) {
	t.Helper()
	if isWebP(data) {
		img, err := xwebp.Decode(bytes.NewReader(data))
		require.NoError(t, err)
		return img, "webp"
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	return img, format
}

func TestRenderResizesAndEncodes(t *testing.T) {
	tr := NewTransformer(DefaultImageLimits())
	src := encodePNG(t, testImage(200, 150))
	ctx := context.Background()
	cases := []struct {
		query, accept string
		w, h          int
		format, ctype string
	}{
		{"width=100", "", 100, 75, "png", "image/png"},
		{"width=100&height=100", "", 100, 100, "png", "image/png"},
		{"width=100&height=100&resize=contain", "", 100, 75, "png", "image/png"},
		{"width=100&height=40&resize=fill", "", 100, 40, "png", "image/png"},
		{"width=120", "image/webp,*/*", 120, 90, "webp", "image/webp"},
		{"width=120&format=origin", "image/webp", 120, 90, "png", "image/png"},
		{"width=80&format=jpeg&quality=50", "", 80, 60, "jpeg", "image/jpeg"},
		{"", "", 200, 150, "png", "image/png"},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		opts, err := ParseTransformOptions(q, tr.Limits())
		require.NoError(t, err)
		r, err := tr.Render(ctx, bytesSource("obj-1", src, nil), opts, c.accept)
		require.NoError(t, err, c.query)
		img, format := decodeAny(t, r.Data)
		assert.Equal(t, c.format, format, c.query)
		assert.Equal(t, c.ctype, r.ContentType, c.query)
		assert.Equal(t, image.Rect(0, 0, c.w, c.h), img.Bounds(), c.query)
		assert.Contains(t, r.Transformations, "format:"+c.format, c.query)
	}
}

func TestRenderCoverCropsTheCentre(t *testing.T) {
	// Left half red, right half blue, a green band in the middle third:
	// a centred square crop of the 300×100 strip keeps only green.
	img := image.NewNRGBA(image.Rect(0, 0, 300, 100))
	for y := 0; y < 100; y++ {
		for x := 0; x < 300; x++ {
			c := color.NRGBA{255, 0, 0, 255}
			switch {
			case x >= 100 && x < 200:
				c = color.NRGBA{0, 255, 0, 255}
			case x >= 200:
				c = color.NRGBA{0, 0, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	tr := NewTransformer(DefaultImageLimits())
	r, err := tr.Render(context.Background(), bytesSource("strip", encodePNG(t, img), nil),
		TransformOptions{Width: 50, Height: 50, Resize: ResizeCover, Format: FormatPNG}, "")
	require.NoError(t, err)
	out, _ := decodeAny(t, r.Data)
	require.Equal(t, image.Rect(0, 0, 50, 50), out.Bounds())
	for _, p := range []image.Point{{2, 2}, {25, 25}, {47, 47}} {
		cr, cg, cb, _ := out.At(p.X, p.Y).RGBA()
		assert.Greater(t, cg>>8, uint32(200), "green at %v", p)
		assert.Less(t, cr>>8, uint32(60), "no red at %v", p)
		assert.Less(t, cb>>8, uint32(60), "no blue at %v", p)
	}
}

func TestRenderQualityChangesSize(t *testing.T) {
	tr := NewTransformer(ImageLimits{CacheBytes: -1})
	src := encodeJPEG(t, testImage(300, 300))
	low, err := tr.Render(context.Background(), bytesSource("q", src, nil), TransformOptions{Format: FormatJPEG, Quality: 20}, "")
	require.NoError(t, err)
	high, err := tr.Render(context.Background(), bytesSource("q", src, nil), TransformOptions{Format: FormatJPEG, Quality: 100}, "")
	require.NoError(t, err)
	assert.Less(t, len(low.Data), len(high.Data))
	lowW, err := tr.Render(context.Background(), bytesSource("q", src, nil), TransformOptions{Format: FormatWebP, Quality: 20}, "")
	require.NoError(t, err)
	highW, err := tr.Render(context.Background(), bytesSource("q", src, nil), TransformOptions{Format: FormatWebP, Quality: 95}, "")
	require.NoError(t, err)
	assert.Less(t, len(lowW.Data), len(highW.Data))
}

func TestRenderReadsEverySourceFormat(t *testing.T) {
	tr := NewTransformer(DefaultImageLimits())
	img := testImage(64, 48)
	var webpSrc bytes.Buffer
	require.NoError(t, encodeWebP(&webpSrc, img, 90))
	for name, data := range map[string][]byte{
		"png": encodePNG(t, img), "jpeg": encodeJPEG(t, img), "webp": webpSrc.Bytes(),
	} {
		r, err := tr.Render(context.Background(), bytesSource(name, data, nil), TransformOptions{Width: 32, Format: FormatPNG}, "")
		require.NoError(t, err, name)
		out, _ := decodeAny(t, r.Data)
		assert.Equal(t, image.Rect(0, 0, 32, 24), out.Bounds(), name)
	}
}

func TestRenderRefusesWhatIsNotAnImage(t *testing.T) {
	tr := NewTransformer(DefaultImageLimits())
	for _, data := range [][]byte{[]byte("hello, world"), {}, encodePNG(t, testImage(10, 10))[:40]} {
		_, err := tr.Render(context.Background(), bytesSource("x", data, nil), TransformOptions{Width: 5}, "")
		require.Error(t, err)
		status, code := errorStatus(t, err)
		assert.Equal(t, http.StatusUnprocessableEntity, status)
		assert.Equal(t, "image_unsupported", code)
	}
}

// pngWithSize rewrites the IHDR of a valid PNG to claim w×h pixels, fixing
// its checksum: the header of a decompression bomb.
func pngWithSize(t *testing.T, w, h uint32) []byte {
	data := encodePNG(t, testImage(4, 4))
	// Signature (8), length (4), "IHDR" (4), then width and height.
	binary.BigEndian.PutUint32(data[16:20], w)
	binary.BigEndian.PutUint32(data[20:24], h)
	crc := crc32.ChecksumIEEE(data[12:29])
	binary.BigEndian.PutUint32(data[29:33], crc)
	return data
}

// zeroPNG writes a w×h 8-bit greyscale PNG of zeros, chunk by chunk (the
// image package would build the whole image in memory first).
func zeroPNG(t *testing.T, w, h int) []byte {
	var idat bytes.Buffer
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	require.NoError(t, err)
	row := make([]byte, w+1) // filter byte 0, then the pixels
	for range h {
		_, err := zw.Write(row)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
		copy(hdr[4:], typ)
		out.Write(hdr[:])
		out.Write(data)
		var crc [4]byte
		binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(append([]byte(typ), data...)))
		out.Write(crc[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:4], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:8], uint32(h))
	ihdr[8] = 8 // bit depth; colour type 0 (grey), default compression, filter, no interlace
	chunk("IHDR", ihdr)
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	// It is a real PNG: it decodes.
	cfg, err := png.DecodeConfig(bytes.NewReader(out.Bytes()))
	require.NoError(t, err)
	require.Equal(t, w, cfg.Width)
	return out.Bytes()
}

func TestRenderRefusesDecompressionBombs(t *testing.T) {
	limits := DefaultImageLimits()
	limits.MaxSourcePixels = 1_000_000
	tr := NewTransformer(limits)
	ctx := context.Background()

	// A header claiming 100000×100000 pixels (40 GB decoded) in a file of
	// a few dozen bytes.
	bomb := pngWithSize(t, 100000, 100000)
	_, err := tr.Render(ctx, bytesSource("bomb", bomb, nil), TransformOptions{Width: 10}, "")
	status, code := errorStatus(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Equal(t, "image_too_large", code)

	// A real one: 2000×2000 grey pixels of one value compress to a few
	// kilobytes and would take 4 MB decoded (16 MB as NRGBA). It is refused
	// from its header, so the refusal allocates a small fraction of that.
	real := zeroPNG(t, 2000, 2000)
	require.Less(t, len(real), 64<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = tr.Render(ctx, bytesSource("real-bomb", real, nil), TransformOptions{Width: 10}, "")
	runtime.ReadMemStats(&after)
	status, code = errorStatus(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Equal(t, "image_too_large", code)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "refusing the bomb must not decode it")

	// One side too long, whatever the pixel count.
	limits = DefaultImageLimits()
	limits.MaxSourceSide = 1000
	_, err = NewTransformer(limits).Render(ctx, bytesSource("wide", pngWithSize(t, 5000, 1), nil), TransformOptions{}, "")
	_, code = errorStatus(t, err)
	assert.Equal(t, "image_too_large", code)
}

func TestRenderRefusesLargeFilesWithoutReadingThem(t *testing.T) {
	limits := DefaultImageLimits()
	limits.MaxSourceBytes = 100
	tr := NewTransformer(limits)
	var opened atomic.Int32
	data := encodePNG(t, testImage(200, 200))
	require.Greater(t, len(data), 100)
	_, err := tr.Render(context.Background(), bytesSource("big", data, &opened), TransformOptions{}, "")
	_, code := errorStatus(t, err)
	assert.Equal(t, "image_too_large", code)
	assert.Zero(t, opened.Load())

	// A source whose announced size is wrong is cut off at the limit.
	src := bytesSource("liar", data, &opened)
	src.Size = 10
	_, err = tr.Render(context.Background(), src, TransformOptions{}, "")
	_, code = errorStatus(t, err)
	assert.Equal(t, "image_too_large", code)
}

func TestRenderCachesResults(t *testing.T) {
	tr := NewTransformer(DefaultImageLimits())
	src := encodePNG(t, testImage(100, 100))
	var opened atomic.Int32
	ctx := context.Background()
	opts := TransformOptions{Width: 50, Resize: ResizeCover}

	first, err := tr.Render(ctx, bytesSource("v1", src, &opened), opts, "")
	require.NoError(t, err)
	again, err := tr.Render(ctx, bytesSource("v1", src, &opened), opts, "")
	require.NoError(t, err)
	assert.Equal(t, int32(1), opened.Load(), "the second render comes from the cache")
	assert.Equal(t, first.Data, again.Data)

	// Another Accept that changes the format, another object version or
	// other options are misses.
	_, err = tr.Render(ctx, bytesSource("v1", src, &opened), opts, "image/webp")
	require.NoError(t, err)
	_, err = tr.Render(ctx, bytesSource("v2", src, &opened), opts, "")
	require.NoError(t, err)
	_, err = tr.Render(ctx, bytesSource("v1", src, &opened), TransformOptions{Width: 40, Resize: ResizeCover}, "")
	require.NoError(t, err)
	assert.Equal(t, int32(4), opened.Load())
	entries, _ := tr.cache.stats()
	assert.Equal(t, 4, entries)

	// With the cache off, every render reads the source.
	off := NewTransformer(ImageLimits{CacheBytes: -1})
	opened.Store(0)
	for range 2 {
		_, err = off.Render(ctx, bytesSource("v1", src, &opened), opts, "")
		require.NoError(t, err)
	}
	assert.Equal(t, int32(2), opened.Load())
}

func TestRenderWaitsForASlotUntilCancelled(t *testing.T) {
	tr := NewTransformer(ImageLimits{Concurrency: 1})
	tr.slots <- struct{}{} // the one slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tr.Render(ctx, bytesSource("x", encodePNG(t, testImage(8, 8)), nil), TransformOptions{}, "")
	require.ErrorIs(t, err, context.Canceled)
}

func TestImageCacheEvictsLeastRecentlyUsed(t *testing.T) {
	entry := func(n int) *Rendered { return &Rendered{Data: make([]byte, n)} }
	size := entrySize("a", entry(1000))
	c := newImageCache(size * 10) // room for ten, each under an eighth
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		c.put(k, entry(1000))
	}
	_, ok := c.get("a") // a becomes the most recent
	require.True(t, ok)
	c.put("k", entry(1000)) // evicts b, the least recent
	_, ok = c.get("b")
	assert.False(t, ok)
	for _, k := range []string{"a", "c", "k"} {
		_, ok = c.get(k)
		assert.True(t, ok, k)
	}
	n, used := c.stats()
	assert.Equal(t, 10, n)
	assert.LessOrEqual(t, used, size*10)

	// An entry over an eighth of the budget is not kept.
	c.put("huge", entry(int(size*10/8)+1))
	_, ok = c.get("huge")
	assert.False(t, ok)
}
