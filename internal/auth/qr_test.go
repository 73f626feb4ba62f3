package auth

import (
	"image"
	"image/color"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// TestQRSVGDecodes rasterizes the SVG by reading its path back and decodes
// it with an independent QR reader: the code must scan to the same URI.
func TestQRSVGDecodes(t *testing.T) {
	uri := "otpauth://totp/Example%20App:user@example.com?algorithm=SHA1&digits=6&issuer=Example+App&period=30&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	svg, err := qrSVG(uri)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>") {
		t.Fatalf("not an SVG document: %.80s", svg)
	}
	img := rasterizeQRSVG(t, svg, 8)
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if res.GetText() != uri {
		t.Fatalf("decoded %q, want %q", res.GetText(), uri)
	}
}

var (
	viewBoxRE = regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`)
	runRE     = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
)

// rasterizeQRSVG draws the runs of qrSVG's single path at scale pixels per
// module.
func rasterizeQRSVG(t *testing.T, svg string, scale int) image.Image {
	t.Helper()
	m := viewBoxRE.FindStringSubmatch(svg)
	if m == nil {
		t.Fatal("no viewBox")
	}
	size, _ := strconv.Atoi(m[1])
	img := image.NewGray(image.Rect(0, 0, size*scale, size*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	runs := runRE.FindAllStringSubmatch(svg, -1)
	if len(runs) == 0 {
		t.Fatal("no dark modules")
	}
	for _, r := range runs {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		n, _ := strconv.Atoi(r[3])
		for py := y * scale; py < (y+1)*scale; py++ {
			for px := x * scale; px < (x+n)*scale; px++ {
				img.SetGray(px, py, color.Gray{Y: 0})
			}
		}
	}
	return img
}
