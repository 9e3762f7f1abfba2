package payments

import (
	"html/template"
	"net/http"
)

// PageLayout returns the frame of the pages this server shows a payer's
// browser: the return pages here and the sandbox's stand-ins for Stripe's.
// Define "body" in it; it shows .Title, and the SANDBOX banner when
// .Sandbox is true (no real money moves there).
func PageLayout() *template.Template { return template.Must(pageLayout.Clone()) }

var pageLayout = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}{{if .Sandbox}} — JobSphere sandbox{{end}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem;border-radius:.4rem}
.amount{font-size:2rem;margin:1rem 0}input{font-size:1.1rem;padding:.4rem;width:100%;box-sizing:border-box}
button{font-size:1.1rem;padding:.5rem 1.2rem;margin:.8rem .4rem .8rem 0}.error{color:#a00}td{padding:.1rem .6rem}</style></head>
<body>{{if .Sandbox}}<p class="banner"><strong>SANDBOX</strong> — a stand-in for Stripe. No real card is charged and no real money moves.</p>{{end}}
<h1>{{.Title}}</h1>
{{template "body" .}}
</body></html>`))

// returnPage is a page that says one thing: where the payer stands.
var returnPage = template.Must(PageLayout().Parse(`{{define "body"}}<p>{{.Message}}</p>{{end}}`))

type returnPageData struct {
	Sandbox        bool
	Title, Message string
}

func renderReturnPage(w http.ResponseWriter, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = returnPage.Execute(w, returnPageData{Title: title, Message: msg})
}

// HandleReturn serves GET /payments/return, the default page Checkout
// sends the payer back to.
func HandleReturn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := map[string]string{
			"success":   "Payment received. Your wallet updates as soon as Stripe confirms it; you can return to the app.",
			"cancelled": "Payment cancelled. Nothing was charged; you can return to the app.",
		}[r.URL.Query().Get("result")]
		if msg == "" {
			msg = "You can return to the app."
		}
		renderReturnPage(w, "JobSphere", msg)
	})
}

// HandleConnectReturn serves GET /connect/return and /connect/refresh, where
// Stripe sends a contractor back from onboarding (or from an expired link).
func HandleConnectReturn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "Payout setup submitted. Return to the app to see your account's status."
		if r.URL.Path == "/connect/refresh" {
			msg = "This setup link has expired. Return to the app and continue the setup: it will open a new link."
		}
		renderReturnPage(w, "JobSphere payouts", msg)
	})
}
