package auth

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters every authenticator app understands (RFC 6238 defaults):
// changing them would break codes from apps that ignore the otpauth URI's
// optional parameters, as Google Authenticator long did.
const (
	totpPeriod     = 30
	totpDigits     = otp.DigitsSix
	totpSecretSize = 20 // bytes: the HMAC-SHA1 block-aligned size RFC 4226 recommends
	// totpSkew accepts the code of the previous and the next period, so a
	// phone clock a few seconds off still works.
	totpSkew = 1
)

// totpEnrollment is what a new TOTP factor hands to the user once.
type totpEnrollment struct {
	Secret string // base32, no padding
	URI    string // otpauth://totp/...
}

// newTOTP generates a fresh secret for account (the user's email or phone)
// under issuer, the name authenticator apps show.
func newTOTP(issuer, account string) (totpEnrollment, error) {
	if account == "" {
		account = "user"
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		SecretSize:  totpSecretSize,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return totpEnrollment{}, fmt.Errorf("generate TOTP secret: %w", err)
	}
	return totpEnrollment{Secret: key.Secret(), URI: key.URL()}, nil
}

// totpCheck validates code against secret at now and returns the time step
// that matched. The caller stores the step and refuses any code whose step
// is not newer than the last one used, so a code observed over a shoulder
// cannot be replayed within its validity window.
func totpCheck(secret, code string, now time.Time) (step int64, ok bool) {
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	base := now.Unix() / totpPeriod
	matched := int64(-1)
	// Every candidate is computed and compared, so the time taken does not
	// tell which period matched.
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		t := time.Unix((base+d)*totpPeriod, 0)
		want, err := totp.GenerateCodeCustom(secret, t, opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && matched < 0 {
			matched = base + d
		}
	}
	if matched < 0 {
		return 0, false
	}
	return matched, true
}
