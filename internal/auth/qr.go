package auth

import (
	"fmt"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// qrQuietZone is the blank border, in modules, that ISO/IEC 18004 requires
// around a QR code for scanners to find it.
const qrQuietZone = 4

// qrSVG renders content as a QR code in SVG: one path of unit squares on a
// white background, scaled by the viewer (shape-rendering keeps the edges
// crisp). Error correction level M survives a little glare on a screen
// while keeping otpauth URIs at a size phones scan easily.
func qrSVG(content string) (string, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("encode QR code: %w", err)
	}
	b := code.Bounds()
	w, h := b.Dx(), b.Dy()
	size := w + 2*qrQuietZone
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`, size, size, size*4, size*4)
	fmt.Fprintf(&sb, `<rect width="%d" height="%d" fill="#ffffff"/><path fill="#000000" d="`, size, size)
	for y := 0; y < h; y++ {
		for x := 0; x < w; {
			if !isDark(code.At(b.Min.X+x, b.Min.Y+y)) {
				x++
				continue
			}
			// One rectangle per horizontal run keeps the path short.
			run := 1
			for x+run < w && isDark(code.At(b.Min.X+x+run, b.Min.Y+y)) {
				run++
			}
			fmt.Fprintf(&sb, "M%d %dh%dv1h-%dz", x+qrQuietZone, y+qrQuietZone, run, run)
			x += run
		}
	}
	sb.WriteString(`"/></svg>`)
	return sb.String(), nil
}

type rgbaColor interface{ RGBA() (r, g, b, a uint32) }

func isDark(c rgbaColor) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}
