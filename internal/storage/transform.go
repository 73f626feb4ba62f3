package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	// Source formats the transformer reads besides JPEG and PNG.
	_ "image/gif"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"

	"github.com/disintegration/imaging"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// ResizeMode says how an image is fitted into the requested width and
// height, with Supabase's names.
type ResizeMode string

const (
	// ResizeCover keeps the aspect ratio and fills the box, cropping the
	// overflow around the centre.
	ResizeCover ResizeMode = "cover"
	// ResizeContain keeps the aspect ratio and fits the whole image inside
	// the box.
	ResizeContain ResizeMode = "contain"
	// ResizeFill stretches the image to the box.
	ResizeFill ResizeMode = "fill"
)

// Output formats. FormatAuto picks by the request's Accept header;
// FormatOrigin keeps the source's format.
const (
	FormatAuto   = ""
	FormatOrigin = "origin"
	FormatWebP   = "webp"
	FormatPNG    = "png"
	FormatJPEG   = "jpeg"
)

// TransformOptions are the parameters of one image transformation, as the
// render endpoints' query string gives them.
type TransformOptions struct {
	// Width and Height of the result in pixels; 0 leaves that side to
	// follow the aspect ratio.
	Width, Height int
	Resize        ResizeMode
	// Format is one of the Format constants.
	Format string
	// Quality of lossy encodings, 20 to 100; 0 means the default.
	Quality int
}

const (
	defaultQuality = 80
	minQuality     = 20
	maxQuality     = 100
)

// ImageLimits bound the work and memory one transformation may take. The
// source's dimensions are read from its header before any pixel is decoded,
// so an image that would expand beyond these limits (a decompression bomb)
// is refused having cost only a few bytes of reading.
type ImageLimits struct {
	// MaxSourceBytes is the largest source file transformed.
	MaxSourceBytes int64
	// MaxSourcePixels is the largest width × height decoded.
	MaxSourcePixels int64
	// MaxSourceSide is the largest width or height decoded.
	MaxSourceSide int
	// MaxOutputSide clamps the requested width and height, as Supabase's
	// image service does.
	MaxOutputSide int
	// CacheBytes bounds the in-memory cache of results; 0 disables it.
	CacheBytes int64
	// Concurrency is how many images may be decoded at once; further
	// requests wait their turn.
	Concurrency int
}

// DefaultImageLimits are the limits used unless configured otherwise: a
// decoded 25-megapixel image takes about 100 MB, and two at a time keep a
// small server's memory in bounds.
func DefaultImageLimits() ImageLimits {
	return ImageLimits{
		MaxSourceBytes:  25 << 20,
		MaxSourcePixels: 25_000_000,
		MaxSourceSide:   16384,
		MaxOutputSide:   2500,
		CacheBytes:      64 << 20,
		Concurrency:     2,
	}
}

// errImageTooLarge and its siblings are what the render endpoints answer.
var (
	errImageTooLarge   = httpx.NewError(http.StatusUnprocessableEntity, "image_too_large", "the source image is larger than the image transformer accepts")
	errImageUnreadable = httpx.NewError(http.StatusUnprocessableEntity, "image_unsupported", "the object is not an image the transformer can read (JPEG, PNG, GIF, WebP, BMP or TIFF)")
)

func invalidTransform(format string, args ...any) *httpx.Error {
	return httpx.Errorf(http.StatusBadRequest, "invalid_transformation", format, args...)
}

// ParseTransformOptions reads width, height, resize, format and quality
// from a render request's query string. Width and height above the
// configured maximum are clamped to it, as Supabase does; values that are
// not numbers, negative, or modes and formats it does not know are
// refused.
func ParseTransformOptions(q url.Values, limits ImageLimits) (TransformOptions, error) {
	var o TransformOptions
	side := func(name string) (int, error) {
		raw := strings.TrimSpace(q.Get(name))
		if raw == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return 0, invalidTransform("%s must be a whole number of pixels, not %q", name, raw)
		}
		if limits.MaxOutputSide > 0 && n > limits.MaxOutputSide {
			n = limits.MaxOutputSide
		}
		return n, nil
	}
	var err error
	if o.Width, err = side("width"); err != nil {
		return o, err
	}
	if o.Height, err = side("height"); err != nil {
		return o, err
	}
	switch r := strings.ToLower(strings.TrimSpace(q.Get("resize"))); r {
	case "", "cover":
		o.Resize = ResizeCover
	case "contain":
		o.Resize = ResizeContain
	case "fill":
		o.Resize = ResizeFill
	default:
		return o, invalidTransform("resize must be cover, contain or fill, not %q", r)
	}
	switch f := strings.ToLower(strings.TrimSpace(q.Get("format"))); f {
	case "", "avif":
		// AVIF has no Go encoder; like a client that sends no format, it
		// gets the best format its Accept header allows.
		o.Format = FormatAuto
	case "origin":
		o.Format = FormatOrigin
	case "webp":
		o.Format = FormatWebP
	case "png":
		o.Format = FormatPNG
	case "jpeg", "jpg":
		o.Format = FormatJPEG
	default:
		return o, invalidTransform("format must be origin, webp, png or jpeg, not %q", f)
	}
	if raw := strings.TrimSpace(q.Get("quality")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < minQuality || n > maxQuality {
			return o, invalidTransform("quality must be a whole number from %d to %d, not %q", minQuality, maxQuality, raw)
		}
		o.Quality = n
	}
	return o, nil
}

// String is the canonical form of the options, used in cache keys and in
// the X-Transformations header.
func (o TransformOptions) String() string {
	var parts []string
	if o.Width > 0 {
		parts = append(parts, "width:"+strconv.Itoa(o.Width))
	}
	if o.Height > 0 {
		parts = append(parts, "height:"+strconv.Itoa(o.Height))
	}
	if o.Width > 0 || o.Height > 0 {
		parts = append(parts, "resize:"+string(o.Resize))
	}
	if o.Quality > 0 {
		parts = append(parts, "quality:"+strconv.Itoa(o.Quality))
	}
	if o.Format != FormatAuto {
		parts = append(parts, "format:"+o.Format)
	}
	return strings.Join(parts, ",")
}

// Query is the options as the query parameters ParseTransformOptions
// reads back, leaving out defaults: the canonical form a signed URL's
// token carries.
func (o TransformOptions) Query() url.Values {
	q := url.Values{}
	if o.Width > 0 {
		q.Set("width", strconv.Itoa(o.Width))
	}
	if o.Height > 0 {
		q.Set("height", strconv.Itoa(o.Height))
	}
	if o.Resize != "" && o.Resize != ResizeCover {
		q.Set("resize", string(o.Resize))
	}
	if o.Format != FormatAuto {
		q.Set("format", o.Format)
	}
	if o.Quality > 0 {
		q.Set("quality", strconv.Itoa(o.Quality))
	}
	return q
}

// hasTransformParams reports whether q sets any transformation.
func hasTransformParams(q url.Values) bool {
	for _, k := range []string{"width", "height", "resize", "format", "quality"} {
		if q.Has(k) {
			return true
		}
	}
	return false
}

// TransformRequest is a transformation in a JSON body, as storage-js's
// createSignedUrl sends it: {width, height, resize, format, quality}.
type TransformRequest struct {
	Width   json.Number `json:"width"`
	Height  json.Number `json:"height"`
	Resize  string      `json:"resize"`
	Format  string      `json:"format"`
	Quality json.Number `json:"quality"`
}

// Options validates the request like the render routes' query string;
// nil when it asks for nothing.
func (t *TransformRequest) Options(limits ImageLimits) (*TransformOptions, error) {
	if t == nil {
		return nil, nil
	}
	q := url.Values{}
	for k, v := range map[string]string{"width": t.Width.String(), "height": t.Height.String(),
		"resize": t.Resize, "format": t.Format, "quality": t.Quality.String()} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return nil, nil
	}
	o, err := ParseTransformOptions(q, limits)
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// sourceFormat is what image.DecodeConfig calls the formats we read.
type sourceFormat = string

// outputFormat picks the encoding of the result: the one asked for; when
// none was, WebP if the Accept header lists it, else the source's own
// format; for origin (and for sources in formats not written, such as GIF)
// the source's format, or PNG, which loses nothing.
func outputFormat(opts TransformOptions, src sourceFormat, accept string) string {
	switch opts.Format {
	case FormatPNG, FormatJPEG, FormatWebP:
		return opts.Format
	case FormatAuto:
		if acceptsType(accept, "image/webp") {
			return FormatWebP
		}
	}
	switch src {
	case "jpeg":
		return FormatJPEG
	case "webp":
		return FormatWebP
	}
	return FormatPNG
}

// acceptsType reports whether an Accept header lists mediaType (or a
// wildcard covering it) with a non-zero quality.
func acceptsType(accept, mediaType string) bool {
	major, _, _ := strings.Cut(mediaType, "/")
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
				continue
			}
		}
		// Only an explicit image/webp (or image/*) counts: browsers send
		// */* for everything, including clients that cannot show WebP.
		if mt == mediaType || mt == major+"/*" {
			return true
		}
	}
	return false
}

func contentTypeOf(format string) string {
	switch format {
	case FormatJPEG:
		return "image/jpeg"
	case FormatWebP:
		return "image/webp"
	}
	return "image/png"
}

// checkSource reads the source's header and refuses it before decoding
// when its dimensions exceed the limits.
func checkSource(data []byte, limits ImageLimits) (sourceFormat, error) {
	var cfg image.Config
	var format string
	var err error
	if isWebP(data) {
		cfg, err = decodeWebPConfig(data)
		format = "webp"
	} else {
		cfg, format, err = image.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return "", errImageUnreadable
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", errImageUnreadable
	}
	if (limits.MaxSourceSide > 0 && (cfg.Width > limits.MaxSourceSide || cfg.Height > limits.MaxSourceSide)) ||
		(limits.MaxSourcePixels > 0 && int64(cfg.Width)*int64(cfg.Height) > limits.MaxSourcePixels) {
		return "", errImageTooLarge.WithDetails(fmt.Sprintf(
			"the image is %d×%d pixels; the limit is %d pixels and %d per side",
			cfg.Width, cfg.Height, limits.MaxSourcePixels, limits.MaxSourceSide))
	}
	return format, nil
}

// targetSize computes the size of the result for a source of w×h pixels.
// Images are never enlarged (as Supabase's image service does not): a box
// larger than the source shrinks, keeping its aspect ratio, until it fits.
// crop reports that the result is a centred crop of the scaled source
// (cover with both sides given).
func targetSize(w, h int, o TransformOptions) (tw, th int, crop bool) {
	fw, fh := float64(w), float64(h)
	switch {
	case o.Width == 0 && o.Height == 0:
		return w, h, false
	case o.Height == 0:
		s := math.Min(1, float64(o.Width)/fw)
		return atLeast1(fw * s), atLeast1(fh * s), false
	case o.Width == 0:
		s := math.Min(1, float64(o.Height)/fh)
		return atLeast1(fw * s), atLeast1(fh * s), false
	}
	bw, bh := float64(o.Width), float64(o.Height)
	switch o.Resize {
	case ResizeContain:
		s := math.Min(1, math.Min(bw/fw, bh/fh))
		return atLeast1(fw * s), atLeast1(fh * s), false
	case ResizeFill:
		s := math.Min(1, math.Min(fw/bw, fh/bh))
		return atLeast1(bw * s), atLeast1(bh * s), false
	default:
		s := math.Min(1, math.Min(fw/bw, fh/bh))
		return atLeast1(bw * s), atLeast1(bh * s), true
	}
}

func atLeast1(v float64) int {
	if n := int(math.Round(v)); n > 1 {
		return n
	}
	return 1
}

// renderImage decodes src (already checked by checkSource), applies opts
// and encodes the result in format.
func renderImage(src []byte, opts TransformOptions, format string) ([]byte, error) {
	var img image.Image
	var err error
	if isWebP(src) {
		img, err = decodeWebP(src)
	} else {
		// AutoOrientation applies the EXIF orientation of photos, so that
		// width and height mean what the viewer sees.
		img, err = imaging.Decode(bytes.NewReader(src), imaging.AutoOrientation(true))
	}
	if err != nil {
		return nil, errImageUnreadable.WithDetails(err.Error())
	}
	b := img.Bounds()
	tw, th, crop := targetSize(b.Dx(), b.Dy(), opts)
	switch {
	case tw == b.Dx() && th == b.Dy():
		// Nothing to resize: only the encoding changes.
	case crop:
		img = imaging.Fill(img, tw, th, imaging.Center, imaging.Lanczos)
	default:
		img = imaging.Resize(img, tw, th, imaging.Lanczos)
	}
	quality := opts.Quality
	if quality == 0 {
		quality = defaultQuality
	}
	var out bytes.Buffer
	switch format {
	case FormatJPEG:
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: quality})
	case FormatWebP:
		err = encodeWebP(&out, img, quality)
	default:
		enc := png.Encoder{CompressionLevel: png.DefaultCompression}
		err = enc.Encode(&out, img)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	return out.Bytes(), nil
}

// Rendered is the result of a transformation.
type Rendered struct {
	Data        []byte
	ContentType string
	// Transformations lists what was applied, for X-Transformations.
	Transformations string
}

// Transformer renders images under limits, with a bounded cache of results
// and a bound on how many decode at once. It is safe for concurrent use.
type Transformer struct {
	limits ImageLimits
	cache  *imageCache
	slots  chan struct{}
}

// NewTransformer builds a Transformer; zero limits take the defaults.
func NewTransformer(limits ImageLimits) *Transformer {
	def := DefaultImageLimits()
	if limits.MaxSourceBytes <= 0 {
		limits.MaxSourceBytes = def.MaxSourceBytes
	}
	if limits.MaxSourcePixels <= 0 {
		limits.MaxSourcePixels = def.MaxSourcePixels
	}
	if limits.MaxSourceSide <= 0 {
		limits.MaxSourceSide = def.MaxSourceSide
	}
	if limits.MaxOutputSide <= 0 {
		limits.MaxOutputSide = def.MaxOutputSide
	}
	if limits.Concurrency <= 0 {
		limits.Concurrency = def.Concurrency
	}
	if limits.CacheBytes < 0 {
		limits.CacheBytes = 0
	}
	return &Transformer{
		limits: limits,
		cache:  newImageCache(limits.CacheBytes),
		slots:  make(chan struct{}, limits.Concurrency),
	}
}

// Limits returns the limits in force.
func (t *Transformer) Limits() ImageLimits { return t.limits }

// ImageSource is one stored object to transform: Identity must change
// whenever the bytes do (the object's physical key and ETag), so that a
// cached result is never served for an overwritten object.
type ImageSource struct {
	Identity string
	Size     int64
	Open     func(ctx context.Context) (io.ReadCloser, error)
}

// Render returns src transformed by opts, encoded in the format opts and
// the Accept header call for; from the cache when the same object was
// rendered the same way before.
func (t *Transformer) Render(ctx context.Context, src ImageSource, opts TransformOptions, accept string) (*Rendered, error) {
	if src.Size > t.limits.MaxSourceBytes {
		return nil, errImageTooLarge.WithDetails(fmt.Sprintf("the image is %d bytes; the limit is %d", src.Size, t.limits.MaxSourceBytes))
	}
	// The format depends on Accept only when opts leave it open, and on
	// the source's format only for origin, so the key holds what decides it.
	preferWebP := opts.Format == FormatAuto && acceptsType(accept, "image/webp")
	key := cacheKey(src.Identity, opts.String(), strconv.FormatBool(preferWebP))
	if r, ok := t.cache.get(key); ok {
		return r, nil
	}

	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-t.slots }()
	// Another request may have rendered it while this one waited.
	if r, ok := t.cache.get(key); ok {
		return r, nil
	}

	rc, err := src.Open(ctx)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, t.limits.MaxSourceBytes+1))
	_ = rc.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > t.limits.MaxSourceBytes {
		return nil, errImageTooLarge.WithDetails(fmt.Sprintf("the image is larger than %d bytes", t.limits.MaxSourceBytes))
	}
	srcFormat, err := checkSource(data, t.limits)
	if err != nil {
		return nil, err
	}
	format := outputFormat(opts, srcFormat, accept)
	out, err := renderImage(data, opts, format)
	if err != nil {
		return nil, err
	}
	applied := opts
	applied.Format = format
	r := &Rendered{Data: out, ContentType: contentTypeOf(format), Transformations: applied.String()}
	t.cache.put(key, r)
	return r, nil
}

func cacheKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		_, _ = io.WriteString(h, strconv.Itoa(len(p)))
		_, _ = io.WriteString(h, ":")
		_, _ = io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
