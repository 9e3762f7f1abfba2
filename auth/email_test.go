package auth

import "testing"

func TestEmailNormalisation(t *testing.T) {
	for in, want := range map[string]string{
		" Dup.User@Adv.Test\u200b ":           "dup.user@adv.test",
		"ｄup.user@ａdv.test":                   "dup.user@adv.test",
		"\ufeffdup.us\u00adER@adv.test\u202e": "dup.user@adv.test",
		"dup.us\u0435r@adv.test":              "dup.us\u0435r@adv.test", // Cyrillic е stays: refused below
	} {
		if got := normalizeEmail(in); got != want {
			t.Errorf("normalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"dup.us\u0435r@adv.test", "dup.user@аdv.test", "dùp@adv.test", "名前@adv.test", "a@b"} {
		if validEmail(normalizeEmail(bad)) {
			t.Errorf("%q accepted", bad)
		}
	}
	if !validEmail("dup.user+tag@adv.test") {
		t.Error("a plain ASCII address refused")
	}
}
