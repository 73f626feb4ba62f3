package storage

import (
	"bytes"
	"image"
	"io"

	"github.com/gen2brain/webp"
	xwebp "golang.org/x/image/webp"
)

// encodeWebP writes img as a lossy WebP of the given quality. Go has no
// WebP encoder of its own: libwebp compiled to WebAssembly runs inside the
// process on wazero, a runtime written in Go, so the binary stays static
// and free of cgo.
func encodeWebP(w io.Writer, img image.Image, quality int) error {
	return webp.Encode(w, img, webp.Options{Quality: quality, Method: 4})
}

// isWebP reports whether data starts with a WebP file header.
func isWebP(data []byte) bool {
	return len(data) >= 12 && bytes.Equal(data[0:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP"))
}

// decodeWebPConfig and decodeWebP read WebP sources with the pure-Go
// decoder, whose memory the header check bounds, rather than through the
// WebAssembly module.
func decodeWebPConfig(data []byte) (image.Config, error) {
	return xwebp.DecodeConfig(bytes.NewReader(data))
}

func decodeWebP(data []byte) (image.Image, error) {
	return xwebp.Decode(bytes.NewReader(data))
}
