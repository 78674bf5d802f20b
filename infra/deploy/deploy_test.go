package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/ticketsaga/saga/infra"
	orderfn "github.com/ticketsaga/saga/order-service/function"
	pointfn "github.com/ticketsaga/saga/point-service/function"
	point "github.com/ticketsaga/saga/point-service/service"
	"github.com/ticketsaga/saga/shared/platform/pushauthtest"
	"github.com/ticketsaga/saga/shared/platform/serve"
	ticketfn "github.com/ticketsaga/saga/ticket-service/function"
	"github.com/ticketsaga/saga/tools/emulator"
)

func plan(t *testing.T, out *bytes.Buffer) *Plan {
	t.Helper()
	decl, err := infra.Load()
	if err != nil {
		t.Fatal(err)
	}
	fsDecl, err := infra.FirestoreDeclaration()
	if err != nil {
		t.Fatal(err)
	}
	return &Plan{Project: "demo-project", Region: "asia-northeast1", Decl: decl, Indexes: fsDecl.Indexes, Exempt: fsDecl.Exempt, TTLs: fsDecl.TTL,
		G: &Gcloud{Dry: true, Out: out}, Log: out, OrderTimeout: "30s", TraceSampleRatio: "0.1"}
}

// TestDryRunCoversEveryResource checks the plan for an empty project.
func TestDryRunCoversEveryResource(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := plan(t, &out)
	if err := p.All(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	has := func(parts ...string) bool {
		for _, l := range lines {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, s := range p.Decl.Subscriptions {
		if !has("gcloud pubsub subscriptions create "+s.Name+" ", "--message-filter=", "--push-endpoint=https://"+s.Service, s.PushPath,
			"--push-auth-service-account=saga-push-invoker@", "--dead-letter-topic=saga-events-dead-letter",
			"--max-delivery-attempts=5", "--min-retry-delay=1s", "--max-retry-delay=60s", "--ack-deadline=30") {
			t.Errorf("no complete create for subscription %s", s.Name)
		}
		if !has("pubsub subscriptions add-iam-policy-binding "+s.Name, "gcp-sa-pubsub", "roles/pubsub.subscriber") {
			t.Errorf("no dead-letter subscriber binding on %s", s.Name)
		}
	}
	for _, want := range [][]string{
		{"gcloud services enable", "run.googleapis.com", "pubsub.googleapis.com", "firestore.googleapis.com", "cloudscheduler.googleapis.com"},
		{"gcloud run deploy order-service", "--allow-unauthenticated", "GOOGLE_BUILDABLE=./order-service", "--service-account=saga-order@"},
		{"gcloud run deploy point-service", "--no-allow-unauthenticated", "GOOGLE_BUILDABLE=./point-service", "--service-account=saga-point@"},
		{"gcloud run deploy ticket-service", "--no-allow-unauthenticated", "GOOGLE_BUILDABLE=./ticket-service", "--service-account=saga-ticket@"},
		{"gcloud firestore databases create", "--type=firestore-native"},
		{"gcloud firestore indexes composite create --collection-group=orders", "field-path=bucket", "field-path=status", "field-path=created_at"},
		{"gcloud firestore indexes composite create --collection-group=orders", "field-path=bucket", "field-path=updated_at"},
		{"gcloud firestore indexes composite create --collection-group=stock_shards", "field-path=ticket_id", "field-path=stock"},
		{"gcloud firestore indexes fields update created_at --collection-group=orders --disable-indexes"},
		{"gcloud firestore indexes fields update updated_at --collection-group=ticket_sagas --disable-indexes"},
		{"gcloud firestore indexes fields update expire_at --collection-group=push_failures --disable-indexes"},
		{"gcloud firestore indexes composite create --collection-group=ticket_sagas", "field-path=user_id", "field-path=state"},
		{"gcloud firestore fields ttls update expire_at", "--collection-group=push_failures", "--enable-ttl"},
		{"gcloud firestore fields ttls update expire_at", "--collection-group=reconcile_runs", "--enable-ttl"},
		{"gcloud firestore fields ttls update expire_at", "--collection-group=findings", "--enable-ttl"},
		{"gcloud pubsub schemas create saga-events-envelope ", "--type=avro", "--definition-file=infra/saga-events.avsc"},
		{"gcloud pubsub topics create saga-events ", "--schema=saga-events-envelope", "--message-encoding=json"},
		{"gcloud pubsub topics create saga-events-dead-letter"},
		{"gcloud pubsub topics add-iam-policy-binding saga-events-dead-letter", "gcp-sa-pubsub", "roles/pubsub.publisher"},
		{"gcloud pubsub topics add-iam-policy-binding saga-events ", "saga-point@", "roles/pubsub.publisher"},
		{"gcloud pubsub topics add-iam-policy-binding saga-events ", "saga-order@", "roles/pubsub.viewer"},
		{"gcloud projects add-iam-policy-binding demo-project", "saga-ticket@", "roles/datastore.user"},
		{"gcloud projects add-iam-policy-binding demo-project", "saga-order@", "roles/telemetry.writer"},
		{"gcloud services enable", "telemetry.googleapis.com"},
		{"gcloud run deploy order-service", "TRACE_EXPORTER=otlp", "TRACE_SAMPLE_RATIO=0.1", "METRICS_EXPORTER=otlp"},
		{"gcloud run services add-iam-policy-binding point-service", "saga-push-invoker@", "roles/run.invoker"},
		{"gcloud iam service-accounts add-iam-policy-binding saga-push-invoker@", "roles/iam.serviceAccountTokenCreator"},
		{"gcloud scheduler jobs create http saga-timeout-sweep", "/tasks/sweep", "--oidc-service-account-email=saga-scheduler@", "--oidc-token-audience="},
		{"gcloud scheduler jobs create http saga-reconcile", "/tasks/reconcile"},
		// The outbox sweeps of earlier releases go.
		{"gcloud scheduler jobs delete saga-outbox-point"},
		{"gcloud scheduler jobs delete saga-outbox-ticket"},
		// The pages: order-service reads the other two with its identity,
		// and pulls the held dead letters for the operator page.
		{"gcloud run deploy order-service", "POINT_SERVICE_URL=https://point-service-", "TICKET_SERVICE_URL=https://ticket-service-",
			"DEAD_LETTER_SUBSCRIPTION=saga-events-dead-letter-hold", "SAGA_SUBSCRIPTIONS=point-events=started-order|failed-ticket|canceled-ticket "},
		{"gcloud run services add-iam-policy-binding ticket-service", "saga-order@", "roles/run.invoker"},
		// Operators act as the operator account, which may call the
		// admin API; the deploying person may mint its ID tokens only.
		{"gcloud iam service-accounts create saga-operator "},
		{"gcloud run services add-iam-policy-binding point-service", "saga-operator@", "roles/run.invoker"},
		{"gcloud run services add-iam-policy-binding ticket-service", "saga-operator@", "roles/run.invoker"},
		{"gcloud iam service-accounts add-iam-policy-binding saga-operator@demo-project.iam.gserviceaccount.com", "--member=user:DEPLOYING_ACCOUNT",
			"--role=roles/iam.serviceAccountOpenIdTokenCreator"},
		{"#   TOKEN=$(gcloud auth print-identity-token --impersonate-service-account=saga-operator@demo-project.iam.gserviceaccount.com",
			"--audiences=https://point-service-PROJECT_NUMBER.asia-northeast1.run.app --include-email)"},
		{"gcloud pubsub subscriptions add-iam-policy-binding saga-events-dead-letter-hold", "saga-order@", "roles/pubsub.subscriber"},
	} {
		if !has(want...) {
			t.Errorf("dry run lacks a line with %q", want)
		}
	}
	// Every service is deployed with all its authentication: it would
	// refuse to start without it (shared/platform/config's fail-closed check).
	for _, svc := range Services {
		want := []string{"gcloud run deploy " + svc, "AUTH_AUDIENCE=https://" + svc + "-PROJECT_NUMBER.asia-northeast1.run.app",
			"PUSH_SERVICE_ACCOUNT=saga-push-invoker@demo-project.iam.gserviceaccount.com",
			"TASK_SERVICE_ACCOUNT=saga-scheduler@demo-project.iam.gserviceaccount.com"}
		if svc == "order-service" {
			want = append(want, "FIREBASE_PROJECT=demo-project")
		} else {
			want = append(want, "ADMIN_IDENTITIES=saga-operator@demo-project.iam.gserviceaccount.com;",
				"READER_IDENTITIES=saga-order@demo-project.iam.gserviceaccount.com")
		}
		if !has(want...) {
			t.Errorf("no deploy of %s with its authentication %q", svc, want)
		}
		for _, l := range lines {
			if strings.Contains(l, "gcloud run deploy "+svc) && strings.Contains(l, "EMULATOR_HOST") {
				t.Errorf("%s deployed pointing at an emulator: %s", svc, l)
			}
		}
	}
	if !has("gcloud projects add-iam-policy-binding demo-project", "saga-order@", "roles/firebaseauth.viewer") {
		t.Error("order-service cannot look up buyers (roles/firebaseauth.viewer)")
	}
	for _, l := range lines {
		if l != "" && !strings.HasPrefix(l, "gcloud ") && !strings.HasPrefix(l, "#") {
			t.Errorf("dry run printed something that is not a gcloud command or a comment: %q", l)
		}
		if strings.Contains(l, "topics create saga-events-dead-letter") && strings.Contains(l, "--schema") {
			t.Errorf("the dead-letter topic keeps what failed, whatever its shape: %s", l)
		}
	}
	// The schema exists before the topic that names it.
	if i, j := strings.Index(out.String(), "schemas create"), strings.Index(out.String(), "topics create saga-events "); i < 0 || j < i {
		t.Error("the topic is created before its schema")
	}
}

// TestDeployPubSubAgainstEmulator runs `make deploy-pubsub` for real, twice,
// with gcloud pointed at the Pub/Sub emulator, on a project deployed before
// the schema (its topic without one, an older definition), and checks what
// it leaves against the declaration (the schema's revisions; the live topic
// left without one); then it changes a filter by hand and
// checks that the deploy refuses, and recreates it safely when asked.
func TestDeployPubSubAgainstEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs the emulators (make test)")
	}
	err := emulator.Require()
	host := os.Getenv("PUBSUB_EMULATOR_HOST")
	if err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("deploy-%d", time.Now().UnixNano())
	urls := map[string]string{"order-service": "http://127.0.0.1:18080", "point-service": "http://127.0.0.1:18081", "ticket-service": "http://127.0.0.1:18082"}
	deployPubSub := func(extra ...string) (string, error) {
		cmd := exec.Command("make", "-s", "-C", "../..", "deploy-pubsub", "PROJECT_ID="+project, "REGION=asia-northeast1")
		cmd.Env = append(os.Environ(),
			"CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=http://"+host+"/", "CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true",
			"CLOUDSDK_CORE_PROJECT="+project, "ORDER_URL="+urls["order-service"], "POINT_URL="+urls["point-service"], "TICKET_URL="+urls["ticket-service"])
		cmd.Env = append(cmd.Env, extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := vkit.NewSchemaClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sc.Close() }()
	decl, _ := infra.Load()
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/" + project + "/topics/" + decl.Topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.CreateSchema(ctx, &pubsubpb.CreateSchemaRequest{Parent: "projects/" + project, SchemaId: decl.Schema.Name,
		Schema: &pubsubpb.Schema{Type: pubsubpb.Schema_AVRO, Definition: `{"type":"record","name":"Envelope","fields":[{"name":"id","type":"string"}]}`}}); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		if out, err := deployPubSub(); err != nil {
			t.Fatalf("deploy-pubsub run %d: %v\n%s", run, err, out)
		}
	}

	for _, topic := range []string{decl.Topic, decl.DeadLetterTopic} {
		got, err := c.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: "projects/" + project + "/topics/" + topic})
		if err != nil {
			t.Errorf("topic %s: %v", topic, err)
			continue
		}
		// deploy-pubsub leaves a live topic's schema settings alone: the
		// services running may predate the schema (make deploy attaches it
		// after deploying them; the dry run shows it).
		var want *pubsubpb.SchemaSettings
		if !proto.Equal(got.GetSchemaSettings(), want) {
			t.Errorf("topic %s schema settings %v, want %v", topic, got.GetSchemaSettings(), want)
		}
	}
	// The declared definition became the latest revision, once: a second
	// run finds it unchanged and commits nothing.
	var defs []string
	for it := sc.ListSchemaRevisions(ctx, &pubsubpb.ListSchemaRevisionsRequest{Name: "projects/" + project + "/schemas/" + decl.Schema.Name,
		View: pubsubpb.SchemaView_FULL}); ; {
		r, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, r.Definition)
	}
	if len(defs) != 2 || decl.Schema.Same(defs[0]) || !decl.Schema.Same(defs[1]) {
		t.Errorf("schema revisions after two deploys on an older one: %q", defs)
	}
	if _, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: "projects/" + project + "/subscriptions/" + decl.DeadLetterSubscription}); err != nil {
		t.Errorf("dead-letter hold subscription: %v", err)
	}
	for _, s := range decl.Subscriptions {
		got, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: "projects/" + project + "/subscriptions/" + s.Name})
		if err != nil {
			t.Errorf("subscription %s: %v", s.Name, err)
			continue
		}
		want := urls[s.Service] + s.PushPath
		switch {
		case got.Filter != s.Filter():
			t.Errorf("%s filter %q, want %q", s.Name, got.Filter, s.Filter())
		case got.GetPushConfig().GetPushEndpoint() != want:
			t.Errorf("%s push endpoint %q, want %q", s.Name, got.GetPushConfig().GetPushEndpoint(), want)
		case got.GetPushConfig().GetOidcToken().GetServiceAccountEmail() != "saga-push-invoker@"+project+".iam.gserviceaccount.com":
			t.Errorf("%s push auth %v", s.Name, got.GetPushConfig().GetOidcToken())
		case got.GetDeadLetterPolicy().GetDeadLetterTopic() != "projects/"+project+"/topics/"+decl.DeadLetterTopic ||
			got.GetDeadLetterPolicy().GetMaxDeliveryAttempts() != s.MaxDeliveryAttempts:
			t.Errorf("%s dead-letter policy %v", s.Name, got.GetDeadLetterPolicy())
		case got.GetRetryPolicy().GetMinimumBackoff().AsDuration() != s.MinRetryDelay.Duration ||
			got.GetRetryPolicy().GetMaximumBackoff().AsDuration() != s.MaxRetryDelay.Duration:
			t.Errorf("%s retry policy %v", s.Name, got.GetRetryPolicy())
		case got.AckDeadlineSeconds != s.AckDeadlineSeconds:
			t.Errorf("%s ack deadline %d", s.Name, got.AckDeadlineSeconds)
		}
	}

	// A filter changed behind the deploy's back is never silently kept.
	first := decl.Subscriptions[0]
	name := "projects/" + project + "/subscriptions/" + first.Name
	if err := c.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: name}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: name,
		Topic: "projects/" + project + "/topics/" + decl.Topic, Filter: `attributes.event_type = "old"`}); err != nil {
		t.Fatal(err)
	}
	out, err := deployPubSub()
	if err == nil || !strings.Contains(out, "RECREATE_CHANGED_FILTERS=1") {
		t.Fatalf("deploy with a changed filter: err %v, output:\n%s", err, out)
	}
	if out, err := deployPubSub("RECREATE_CHANGED_FILTERS=1"); err != nil {
		t.Fatalf("recreate: %v\n%s", err, out)
	}
	got, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
	if err != nil || got.Filter != first.Filter() || got.GetPushConfig().GetPushEndpoint() == "" {
		t.Fatalf("after recreate: %v, %v", got, err)
	}
}

// TestAdminAPIAccessAsDeployed: point-service configured as the deploy
// configures it, called with tokens shaped like the ones each caller
// really carries. An operator's documented command (a person impersonating
// the operator account, audience the service's URL) may write;
// order-service's own identity may read and is refused a write; a person's
// own gcloud token, and the push invoker, are refused.
func TestAdminAPIAccessAsDeployed(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := plan(t, &out)
	if err := p.All(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"K_SERVICE": "point-service"}
	for _, l := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(l, "gcloud run deploy point-service "); ok {
			for _, arg := range strings.Fields(v) {
				if vars, ok := strings.CutPrefix(strings.Trim(arg, "'"), "--set-env-vars=^;^"); ok {
					for _, kv := range strings.Split(vars, ";") {
						k, v, _ := strings.Cut(kv, "=")
						env[k] = v
					}
				}
			}
		}
	}
	cfg, err := point.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("point-service refuses the deploy's configuration: %v", err)
	}
	issuer := pushauthtest.NewIssuer(t)
	app := &serve.App{AdminOnly: true, Health: serve.NewHealth(func(context.Context) error { return nil }, slog.New(slog.DiscardHandler)),
		API: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	if err := app.Secure(context.Background(), cfg.Common, slog.New(slog.DiscardHandler), issuer.ClientOption()); err != nil {
		t.Fatal(err)
	}
	url := env["AUTH_AUDIENCE"]
	// The operator's token is what the printed command mints: the account
	// it impersonates, the audience it asks for.
	cmd := p.OperatorCommand(url)
	sa, _, _ := strings.Cut(strings.SplitAfter(cmd, "--impersonate-service-account=")[1], " ")
	if !strings.Contains(cmd, "--audiences="+url+" ") || !strings.Contains(out.String(), "#   TOKEN=$("+p.OperatorCommand(url)) {
		t.Fatalf("the operator command %q does not ask for the service's URL %s, or the deploy does not print it", cmd, url)
	}
	orderSA := "saga-order@demo-project.iam.gserviceaccount.com"
	for _, tc := range []struct {
		who, method, token string
		want               int
	}{
		{"an operator, impersonating " + sa, "PUT", issuer.ServiceAccountToken(t, sa, url), http.StatusOK},
		{"an operator, impersonating " + sa, "GET", issuer.ServiceAccountToken(t, sa, url), http.StatusOK},
		{"order-service", "GET", issuer.ServiceAccountToken(t, orderSA, url), http.StatusOK},
		{"order-service", "PUT", issuer.ServiceAccountToken(t, orderSA, url), http.StatusForbidden},
		{"a person's own gcloud token", "PUT", issuer.PersonToken(t, "alice@example.com"), http.StatusUnauthorized},
		{"the operator account's token for ticket-service", "PUT", issuer.ServiceAccountToken(t, sa, strings.Replace(url, "point", "ticket", 1)), http.StatusUnauthorized},
		{"the push invoker", "PUT", issuer.ServiceAccountToken(t, "saga-push-invoker@demo-project.iam.gserviceaccount.com", url), http.StatusUnauthorized},
	} {
		r := httptest.NewRequest(tc.method, "/accounts/alice", strings.NewReader(`{"balance": 1}`))
		r.Header.Set("Authorization", "Bearer "+tc.token)
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: %s /accounts/alice = %d, want %d (%s)", tc.who, tc.method, w.Code, tc.want, w.Body)
		}
		if w.Code == http.StatusUnauthorized && !strings.Contains(w.Body.String(), "--impersonate-service-account") {
			t.Errorf("%s: the 401 does not say how an operator gets a token: %s", tc.who, w.Body)
		}
	}
}

// TestDryRunAsFunctions: DEPLOY_AS=functions deploys the same three
// services, with the same settings, as Cloud Run functions from the entry
// points their function packages register.
func TestDryRunAsFunctions(t *testing.T) {
	t.Parallel()
	deploys := func(functions bool) map[string]string {
		var out bytes.Buffer
		p := plan(t, &out)
		p.Functions, p.FunctionBaseImage = functions, "go126"
		if err := p.All(); err != nil {
			t.Fatal(err)
		}
		lines := map[string]string{}
		for _, l := range strings.Split(out.String(), "\n") {
			for _, svc := range Services {
				if strings.HasPrefix(l, "gcloud run deploy "+svc+" ") {
					lines[svc] = l
				}
			}
		}
		return lines
	}
	asServices, asFunctions := deploys(false), deploys(true)
	entry := map[string]string{"order-service": orderfn.Name, "point-service": pointfn.Name, "ticket-service": ticketfn.Name}
	for _, svc := range Services {
		fn := asFunctions[svc]
		want := "--source=. --region=asia-northeast1 --project=demo-project --service-account=" + ServiceAccount(svc) + "@demo-project.iam.gserviceaccount.com" +
			" --function=" + entry[svc] + " --base-image=go126 "
		if FunctionName(svc) != entry[svc] || !strings.Contains(fn, want) || strings.Contains(fn, "GOOGLE_BUILDABLE") {
			t.Errorf("%s as a function: %s\nwant it built from its entry point %s: %s", svc, fn, entry[svc], want)
		}
		// Everything after the build flags is the same deploy.
		tail := func(l string) string { _, after, _ := strings.Cut(l, "--set-env-vars="); return after }
		if tail(fn) == "" || tail(fn) != tail(asServices[svc]) {
			t.Errorf("%s as a function is configured differently:\n%s\n%s", svc, fn, asServices[svc])
		}
	}
}

// TestFunctionEntryPoints builds the main the functions buildpack
// generates, from the module's root package, and starts it as each
// service's function: each entry point is registered under the name the
// deploy gives, and checks its configuration as the process starts (a
// function against the emulators refuses, naming them). An unknown name
// does not start.
func TestFunctionEntryPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary: make test's integration phase runs it")
	}
	t.Parallel()
	bin := t.TempDir() + "/funcmain"
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/funcmain").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(target string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=0", "GOOGLE_CLOUD_PROJECT=demo-functions",
			"FUNCTION_TARGET=" + target, "FIRESTORE_EMULATOR_HOST=127.0.0.1:8086", "PUBSUB_EMULATOR_HOST=127.0.0.1:8085",
			"FIREBASE_AUTH_EMULATOR_HOST=127.0.0.1:9099"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, svc := range Services {
		out, err := run(FunctionName(svc))
		if err == nil || !strings.Contains(out, svc+" refuses to start on Cloud Run with") || !strings.Contains(out, "FIRESTORE_EMULATOR_HOST") {
			t.Errorf("%s as the function %s against the emulators: %v\n%s", svc, FunctionName(svc), err, out)
		}
	}
	if out, err := run("NoSuchService"); err == nil || !strings.Contains(out, `no matching function found with name: "NoSuchService"`) {
		t.Errorf("an unknown entry point: %v\n%s", err, out)
	}
}
