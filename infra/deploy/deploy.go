// Package deploy takes a Google Cloud project from empty to a working saga
// with gcloud, reading the same infra/ declaration as the local stack. Every
// step creates or updates, so a second run converges and changes nothing.
package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/shared/saga"
)

// Service accounts, one per service plus the three callers.
const (
	SAPushInvoker = "saga-push-invoker" // Pub/Sub push → the services
	SAScheduler   = "saga-scheduler"    // Cloud Scheduler → the task endpoints
	// SAOperator is who operators act as on point- and ticket-service's
	// admin API: a person's own ID token from gcloud carries gcloud's
	// audience, never a service's URL, so operators impersonate this
	// account to get one (roles/iam.serviceAccountOpenIdTokenCreator on
	// it, nothing else).
	SAOperator = "saga-operator"
)

// ServiceAccount is the account service runs as.
func ServiceAccount(service string) string {
	return "saga-" + strings.TrimSuffix(service, "-service")
}

// APIs the saga needs.
var APIs = []string{"run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com",
	"pubsub.googleapis.com", "firestore.googleapis.com", "cloudscheduler.googleapis.com",
	"iam.googleapis.com", "iamcredentials.googleapis.com", "identitytoolkit.googleapis.com",
	// Traces and metrics go to Google Cloud's OTLP endpoint.
	"telemetry.googleapis.com"}

// Services, in deploy order.
var Services = []string{saga.OrderService, saga.PointService, saga.TicketService}

// Job is a Cloud Scheduler job calling a task endpoint.
type Job struct {
	Name, Service, Path, Schedule string
}

// Jobs: the timeout sweep every minute (Cloud Scheduler's finest grain),
// the reconciliation hourly.
var Jobs = []Job{
	{"saga-timeout-sweep", saga.OrderService, saga.TaskSweep, "* * * * *"},
	{"saga-reconcile", saga.OrderService, saga.TaskReconcile, "17 * * * *"},
}

// RetiredJobs are jobs of earlier releases, deleted when a deploy finds
// them: the outbox sweeps of point- and ticket-service, whose work the
// timeout sweep's replays took over (docs/self-healing.md).
var RetiredJobs = []string{"saga-outbox-point", "saga-outbox-ticket"}

// Plan is one deploy.
type Plan struct {
	Project, Region string
	Decl            infra.PubSub
	Indexes         []infra.Index
	Exempt          []infra.Exemption
	TTLs            []infra.TTL
	G               *Gcloud
	Log             io.Writer
	// URLs overrides the services' URLs (tests against the emulator).
	URLs map[string]string
	// RecreateChangedFilters allows the safe recreate of a subscription
	// whose filter changed; without it the deploy stops and says what to do.
	RecreateChangedFilters bool
	// OrderTimeout is passed to the services.
	OrderTimeout string
	// TraceSampleRatio is the services' TRACE_SAMPLE_RATIO: the share of
	// sagas traced (they export traces and metrics with OTLP).
	TraceSampleRatio string
	// Operators may act as SAOperator (IAM members: user:…, group:…,
	// serviceAccount:…); empty means the account running the deploy.
	Operators []string
	// Writers are more service accounts that may call point- and
	// ticket-service's admin API (a CI account, say), beside SAOperator.
	Writers []string
	// FirebaseAPIKey is the web API key the buyer's page signs in with;
	// OpsAdminUIDs the Firebase uids that may open the operator page
	// (none: it is off).
	FirebaseAPIKey string
	OpsAdminUIDs   []string
	// Functions deploys each service as a Cloud Run function, built from
	// its function/ entry point by the functions buildpack on
	// FunctionBaseImage, instead of as a service built by the Go buildpack.
	Functions         bool
	FunctionBaseImage string

	projectNumber string
}

func (p *Plan) sa(name string) string { return name + "@" + p.Project + ".iam.gserviceaccount.com" }

func (p *Plan) pf() string { return "--project=" + p.Project }

func (p *Plan) step(title string) { fmt.Fprintf(p.Log, "\n# %s\n", title) }

// number is the project number, for the Pub/Sub service agent and the
// services' deterministic URLs.
func (p *Plan) number() (string, error) {
	if p.projectNumber != "" {
		return p.projectNumber, nil
	}
	out, err := p.G.Run("projects", "describe", p.Project, "--format=value(projectNumber)")
	if err != nil {
		return "", err
	}
	if p.G.Dry {
		out = "PROJECT_NUMBER"
	}
	p.projectNumber = out
	return out, nil
}

// URL is service's URL: Cloud Run's deterministic https://SERVICE-NUMBER.REGION.run.app,
// known before the first deploy, so it can be the OIDC audience.
func (p *Plan) URL(service string) (string, error) {
	if u, ok := p.URLs[service]; ok {
		return u, nil
	}
	n, err := p.number()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("https://%s-%s.%s.run.app", service, n, p.Region), nil
}

func (p *Plan) pubsubAgent() (string, error) {
	n, err := p.number()
	if err != nil {
		return "", err
	}
	return "serviceAccount:service-" + n + "@gcp-sa-pubsub.iam.gserviceaccount.com", nil
}

// All deploys everything.
func (p *Plan) All() error {
	// The schema goes on an existing topic only once the services that
	// write the envelope complete run (docs/events.md, rollout).
	for _, f := range []func() error{p.apis, p.serviceAccounts, p.firestore, p.topics, p.runServices, p.topicSchema, p.subscriptions, p.iam, p.scheduler} {
		if err := f(); err != nil {
			return err
		}
	}
	fmt.Fprintln(p.Log, "\n# done")
	return p.operatorHowTo()
}

// OperatorCommand is the command an operator runs for a token that
// serviceURL's admin API accepts: their own Google account, impersonating
// the operator account, asking for the service's URL as audience.
func (p *Plan) OperatorCommand(serviceURL string) string {
	return "gcloud auth print-identity-token --impersonate-service-account=" + p.sa(SAOperator) +
		" --audiences=" + serviceURL + " --include-email"
}

// operatorHowTo prints how operators call the admin API, as comments.
func (p *Plan) operatorHowTo() error {
	point, err := p.URL(saga.PointService)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.Log, "# operators (roles/iam.serviceAccountOpenIdTokenCreator on %s) call the admin API with:\n", p.sa(SAOperator))
	fmt.Fprintf(p.Log, "#   TOKEN=$(%s)\n", p.OperatorCommand(point))
	fmt.Fprintf(p.Log, "#   curl -X PUT %s/accounts/alice -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{\"balance\": 10000}'\n", point)
	return nil
}

// PubSub deploys the schema, topics and subscriptions alone.
func (p *Plan) PubSub() error {
	// The schema goes on an existing topic only in All, after the services
	// that write the whole envelope are deployed: here the services running
	// may be older, and the topic would refuse what they publish.
	for _, f := range []func() error{p.topics, p.subscriptions} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (p *Plan) apis() error {
	p.step("APIs")
	_, err := p.G.Run(append([]string{"services", "enable"}, append(APIs, p.pf())...)...)
	return err
}

func (p *Plan) serviceAccounts() error {
	p.step("service accounts: one per service, the push invoker, the scheduler")
	names := []string{SAPushInvoker, SAScheduler, SAOperator}
	for _, s := range Services {
		names = append(names, ServiceAccount(s))
	}
	for _, n := range names {
		if _, err := p.G.Describe("iam", "service-accounts", "describe", p.sa(n), p.pf()); err == nil {
			continue
		} else if !errors.Is(err, errNotFound) {
			return err
		}
		if _, err := p.G.Run("iam", "service-accounts", "create", n, "--display-name=ticket saga: "+n, p.pf()); err != nil && !errors.Is(err, errExists) {
			return err
		}
	}
	return nil
}

func (p *Plan) firestore() error {
	p.step("Firestore: the native database, the composite indexes of every query and the fields without single-field indexes (infra/indexes.json)")
	if _, err := p.G.Describe("firestore", "databases", "describe", "--database=(default)", p.pf()); errors.Is(err, errNotFound) {
		if _, err := p.G.Run("firestore", "databases", "create", "--location="+p.Region, "--type=firestore-native", p.pf()); err != nil && !errors.Is(err, errExists) {
			return err
		}
	} else if err != nil {
		return err
	}
	for _, ix := range p.Indexes {
		args := []string{"firestore", "indexes", "composite", "create", "--collection-group=" + ix.Collection, "--query-scope=COLLECTION"}
		for _, f := range ix.Fields {
			args = append(args, "--field-config=field-path="+f+",order=ascending")
		}
		if _, err := p.G.Run(append(args, "--async", p.pf())...); err != nil && !errors.Is(err, errExists) {
			return err
		}
	}
	// No single-field index where none is queried or a time would put
	// every write in one range (infra/indexes.json, "exempt").
	for _, e := range p.Exempt {
		if _, err := p.G.Run("firestore", "indexes", "fields", "update", e.Field, "--collection-group="+e.Collection,
			"--disable-indexes", "--async", p.pf()); err != nil {
			return err
		}
	}
	// Retention: what would otherwise grow forever expires (infra/indexes.json, "ttl").
	for _, ttl := range p.TTLs {
		if _, err := p.G.Run("firestore", "fields", "ttls", "update", ttl.Field, "--collection-group="+ttl.CollectionGroup,
			"--enable-ttl", "--async", p.pf()); err != nil {
			return err
		}
	}
	return nil
}

func (p *Plan) topics() error {
	if err := p.schema(); err != nil {
		return err
	}
	p.step("topics: " + p.Decl.Topic + " (its messages validated against the schema), dead letters " + p.Decl.DeadLetterTopic)
	for _, t := range [][]string{
		{p.Decl.Topic, "--schema=" + p.Decl.Schema.Name, "--message-encoding=" + p.Decl.Schema.Encoding},
		// Dead letters are kept as they failed: no schema.
		{p.Decl.DeadLetterTopic},
	} {
		if err := p.ensure([]string{"pubsub", "topics", "describe", t[0], p.pf()},
			append(append([]string{"pubsub", "topics", "create"}, t...), p.pf())); err != nil {
			return err
		}
	}
	// The hold subscription keeps dead letters for sagactl.
	return p.ensure(
		[]string{"pubsub", "subscriptions", "describe", p.Decl.DeadLetterSubscription, p.pf()},
		[]string{"pubsub", "subscriptions", "create", p.Decl.DeadLetterSubscription, "--topic=" + p.Decl.DeadLetterTopic,
			"--ack-deadline=60", "--message-retention-duration=7d", p.pf()})
}

type schemaJSON struct {
	Definition string `json:"definition"`
}

// schema creates the topic's schema, or commits the declared definition as
// a new revision when it differs from the latest: the topic accepts a
// message that matches any revision, so older events stay publishable
// (docs/events.md, evolution).
func (p *Plan) schema() error {
	s := p.Decl.Schema
	p.step("schema " + s.Name + " from " + s.Path() + ": " + s.Type + ", every event on " + p.Decl.Topic + " must match it")
	if !p.G.Dry {
		// gcloud reads the file; it must be what this deploy was built with.
		def, err := os.ReadFile(s.Path())
		if err != nil || !s.Same(string(def)) {
			return fmt.Errorf("%s is missing or differs from the declaration built in (run the deploy from the repository's root: make deploy): %v", s.Path(), err)
		}
	}
	args := []string{s.Name, "--type=" + s.Type, "--definition-file=" + s.Path(), p.pf()}
	out, err := p.G.Describe("pubsub", "schemas", "describe", s.Name, "--format=json", p.pf())
	if errors.Is(err, errNotFound) {
		_, err = p.G.Run(append([]string{"pubsub", "schemas", "create"}, args...)...)
		return err
	}
	if err != nil {
		return err
	}
	var have schemaJSON
	if err := json.Unmarshal([]byte(out), &have); err != nil {
		return fmt.Errorf("describe schema %s: %w", s.Name, err)
	}
	if s.Same(have.Definition) {
		return nil
	}
	_, err = p.G.Run(append([]string{"pubsub", "schemas", "commit"}, args...)...)
	return err
}

type topicJSON struct {
	SchemaSettings struct {
		Schema   string `json:"schema"`
		Encoding string `json:"encoding"`
	} `json:"schemaSettings"`
}

// topicSchema puts the schema on a topic that was created without it. It
// sets the schema and encoding alone, so every revision is accepted.
func (p *Plan) topicSchema() error {
	s := p.Decl.Schema
	p.step("the schema on " + p.Decl.Topic + " if it was created without one: only once every service writes the envelope complete (docs/events.md)")
	out, err := p.G.Describe("pubsub", "topics", "describe", p.Decl.Topic, "--format=json", p.pf())
	if errors.Is(err, errNotFound) && p.G.Dry {
		return nil // created above, with its schema
	}
	if err != nil {
		return err
	}
	var have topicJSON
	if err := json.Unmarshal([]byte(out), &have); err != nil {
		return fmt.Errorf("describe topic %s: %w", p.Decl.Topic, err)
	}
	if strings.HasSuffix(have.SchemaSettings.Schema, "/schemas/"+s.Name) && strings.EqualFold(have.SchemaSettings.Encoding, s.Encoding) {
		return nil
	}
	_, err = p.G.Run("pubsub", "topics", "update", p.Decl.Topic, "--schema="+s.Name, "--message-encoding="+s.Encoding, p.pf())
	return err
}

// ensure runs create unless describe finds the resource.
func (p *Plan) ensure(describe, create []string) error {
	_, err := p.G.Describe(describe...)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNotFound) {
		return err
	}
	if _, err := p.G.Run(create...); err != nil && !errors.Is(err, errExists) {
		return err
	}
	return nil
}

// Writers and readers of point- and ticket-service's admin and read API
// (ADMIN_IDENTITIES, READER_IDENTITIES): the operator account (and any
// writers configured) may read and write; order-service, whose pages read
// balances and tickets, may only read.
func (p *Plan) writers() []string { return append([]string{p.sa(SAOperator)}, p.Writers...) }

func (p *Plan) readers() []string { return []string{p.sa(ServiceAccount(saga.OrderService))} }

// operators returns the IAM members who may act as SAOperator: the
// configured ones, or the account running the deploy.
func (p *Plan) operators() ([]string, error) {
	if len(p.Operators) > 0 {
		return p.Operators, nil
	}
	acct, err := p.G.Run("config", "get-value", "account")
	if err != nil {
		return nil, err
	}
	if p.G.Dry {
		acct = "DEPLOYING_ACCOUNT"
	}
	if strings.HasSuffix(acct, ".gserviceaccount.com") {
		return []string{"serviceAccount:" + acct}, nil
	}
	return []string{"user:" + acct}, nil
}

func (p *Plan) runServices() error {
	p.step("Cloud Run services, built from source by Google's Go buildpack (GOOGLE_BUILDABLE picks the service); " +
		"every service verifies its callers and refuses to start without this authentication")
	for _, s := range Services {
		url, err := p.URL(s)
		if err != nil {
			return err
		}
		env := []string{"GOOGLE_CLOUD_PROJECT=" + p.Project, "PUBSUB_TOPIC=" + p.Decl.Topic, "ORDER_TIMEOUT=" + p.OrderTimeout,
			"AUTH_AUDIENCE=" + url, "PUSH_SERVICE_ACCOUNT=" + p.sa(SAPushInvoker), "TASK_SERVICE_ACCOUNT=" + p.sa(SAScheduler),
			"TRACE_EXPORTER=otlp", "TRACE_SAMPLE_RATIO=" + p.TraceSampleRatio, "METRICS_EXPORTER=otlp"}
		if s == saga.OrderService {
			env = append(env, "FIREBASE_PROJECT="+p.Project)
			pages, err := p.pagesEnv()
			if err != nil {
				return err
			}
			env = append(env, pages...)
		} else {
			env = append(env, "ADMIN_IDENTITIES="+strings.Join(p.writers(), ","), "READER_IDENTITIES="+strings.Join(p.readers(), ","))
		}
		access := "--no-allow-unauthenticated"
		if s == saga.OrderService {
			access = "--allow-unauthenticated" // the public API
		}
		// The Go buildpack builds the service's main package; as a
		// function, the functions buildpack builds its entry point from
		// the module's root package (functions.go).
		build := []string{"--set-build-env-vars=GOOGLE_BUILDABLE=./" + s}
		if p.Functions {
			build = []string{"--function=" + FunctionName(s), "--base-image=" + p.FunctionBaseImage}
		}
		args := append([]string{"run", "deploy", s, "--source=.", "--region=" + p.Region, p.pf(), "--service-account=" + p.sa(ServiceAccount(s))}, build...)
		if _, err := p.G.Run(append(args,
			// ^;^ makes ';' the separator: ADMIN_IDENTITIES holds commas.
			"--set-env-vars=^;^"+strings.Join(env, ";"), access,
			"--cpu=1", "--memory=512Mi", "--concurrency=80", "--timeout=75s")...); err != nil {
			return err
		}
	}
	return nil
}

// FunctionName is service's entry point as a function (its function
// package registers it): order-service is OrderService.
func FunctionName(service string) string {
	name := strings.TrimSuffix(service, "-service")
	return strings.ToUpper(name[:1]) + name[1:] + "Service"
}

// pagesEnv is what order-service's pages need: the other services' URLs
// (for GET /me and GET /catalog), the dead-letter routing (for the operator
// page), the sign-in's API key and the operators.
func (p *Plan) pagesEnv() ([]string, error) {
	point, err := p.URL(saga.PointService)
	if err != nil {
		return nil, err
	}
	ticket, err := p.URL(saga.TicketService)
	if err != nil {
		return nil, err
	}
	env := append([]string{"POINT_SERVICE_URL=" + point, "TICKET_SERVICE_URL=" + ticket}, p.Decl.OpsEnv()...)
	if p.FirebaseAPIKey != "" {
		env = append(env, "FIREBASE_API_KEY="+p.FirebaseAPIKey)
	}
	if len(p.OpsAdminUIDs) > 0 {
		env = append(env, "OPS_ADMIN_UIDS="+strings.Join(p.OpsAdminUIDs, ","))
	}
	return env, nil
}

type subscriptionJSON struct {
	Topic  string `json:"topic"`
	Filter string `json:"filter"`
}

func (p *Plan) subscriptions() error {
	p.step("push subscriptions from infra/pubsub.json: event_type filters, OIDC push auth, retry and dead-letter policies")
	for _, s := range p.Decl.Subscriptions {
		base, err := p.URL(s.Service)
		if err != nil {
			return err
		}
		common := []string{"--push-endpoint=" + base + s.PushPath,
			"--push-auth-service-account=" + p.sa(SAPushInvoker), "--push-auth-token-audience=" + base,
			"--ack-deadline=" + strconv.Itoa(int(s.AckDeadlineSeconds)),
			"--dead-letter-topic=" + p.Decl.DeadLetterTopic, "--max-delivery-attempts=" + strconv.Itoa(int(s.MaxDeliveryAttempts)),
			"--min-retry-delay=" + seconds(s.MinRetryDelay), "--max-retry-delay=" + seconds(s.MaxRetryDelay), p.pf()}
		create := append([]string{"pubsub", "subscriptions", "create", s.Name, "--topic=" + p.Decl.Topic, "--message-filter=" + s.Filter()}, common...)
		out, err := p.G.Describe("pubsub", "subscriptions", "describe", s.Name, "--format=json", p.pf())
		if errors.Is(err, errNotFound) {
			if _, err := p.G.Run(create...); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		var have subscriptionJSON
		if err := json.Unmarshal([]byte(out), &have); err != nil {
			return fmt.Errorf("describe subscription %s: %w", s.Name, err)
		}
		if have.Filter == s.Filter() && strings.HasSuffix(have.Topic, "/topics/"+p.Decl.Topic) {
			if _, err := p.G.Run(append([]string{"pubsub", "subscriptions", "update", s.Name}, common...)...); err != nil {
				return err
			}
			continue
		}
		// A filter (or topic) cannot change on a subscription.
		if !p.RecreateChangedFilters {
			return fmt.Errorf("subscription %s has filter %q on %s, the declaration says %q on %s; a filter cannot be changed in place. "+
				"Re-run with RECREATE_CHANGED_FILTERS=1 to recreate it safely (snapshot, delete, create, seek back to the snapshot: "+
				"nothing unacknowledged is lost, and consumers absorb the replays)", s.Name, have.Filter, have.Topic, s.Filter(), p.Decl.Topic)
		}
		if err := p.recreate(s.Name, create); err != nil {
			return err
		}
	}
	return nil
}

// recreate replaces a subscription without losing its backlog: a snapshot
// keeps every message unacknowledged at that moment and everything published
// after, the new subscription seeks to it, and the consumers, idempotent,
// absorb what is delivered twice.
func (p *Plan) recreate(name string, create []string) error {
	snap := name + "-refilter"
	for _, args := range [][]string{
		{"pubsub", "snapshots", "create", snap, "--subscription=" + name, p.pf()},
		{"pubsub", "subscriptions", "delete", name, p.pf()},
		create,
		{"pubsub", "subscriptions", "seek", name, "--snapshot=" + snap, p.pf()},
		{"pubsub", "snapshots", "delete", snap, p.pf()},
	} {
		if _, err := p.G.Run(args...); err != nil {
			return fmt.Errorf("recreate subscription %s: %w", name, err)
		}
	}
	return nil
}

func seconds(d infra.Duration) string { return strconv.Itoa(int(d.Seconds())) + "s" }

func (p *Plan) iam() error {
	p.step("IAM: least privilege")
	agent, err := p.pubsubAgent()
	if err != nil {
		return err
	}
	for _, s := range Services {
		member := "serviceAccount:" + p.sa(ServiceAccount(s))
		// Firestore user, and publisher on the saga topic only.
		if _, err := p.G.Run("projects", "add-iam-policy-binding", p.Project, "--member="+member, "--role=roles/datastore.user", "--condition=None"); err != nil {
			return err
		}
		// Spans and metrics to the Telemetry API (OTLP), billed to the
		// project they name (x-goog-user-project).
		for _, role := range []string{"roles/telemetry.writer", "roles/serviceusage.serviceUsageConsumer"} {
			if _, err := p.G.Run("projects", "add-iam-policy-binding", p.Project, "--member="+member, "--role="+role, "--condition=None"); err != nil {
				return err
			}
		}
		if s == saga.OrderService {
			// Whether a buyer is disabled, or their tokens revoked.
			if _, err := p.G.Run("projects", "add-iam-policy-binding", p.Project, "--member="+member, "--role=roles/firebaseauth.viewer", "--condition=None"); err != nil {
				return err
			}
		}
		if _, err := p.G.Run("pubsub", "topics", "add-iam-policy-binding", p.Decl.Topic, "--member="+member, "--role=roles/pubsub.publisher", p.pf()); err != nil {
			return err
		}
		// /healthz checks that the topic exists (a topic lookup).
		if _, err := p.G.Run("pubsub", "topics", "add-iam-policy-binding", p.Decl.Topic, "--member="+member, "--role=roles/pubsub.viewer", p.pf()); err != nil {
			return err
		}
		// The push invoker and the scheduler may call it, and
		// order-service and the operator account the other two
		// (order-service's pages read balances and tickets; the app lets
		// it read only); nobody else (order-service is public for its API
		// anyway).
		callers := []string{SAPushInvoker, SAScheduler}
		if s != saga.OrderService {
			callers = append(callers, ServiceAccount(saga.OrderService), SAOperator)
		}
		for _, caller := range callers {
			if _, err := p.G.Run("run", "services", "add-iam-policy-binding", s, "--region="+p.Region, p.pf(),
				"--member=serviceAccount:"+p.sa(caller), "--role=roles/run.invoker"); err != nil {
				return err
			}
		}
	}
	// Operators mint ID tokens as the operator account, for the admin
	// API's URLs: that role and nothing more (no access tokens).
	operators, err := p.operators()
	if err != nil {
		return err
	}
	for _, m := range operators {
		if _, err := p.G.Run("iam", "service-accounts", "add-iam-policy-binding", p.sa(SAOperator), p.pf(),
			"--member="+m, "--role=roles/iam.serviceAccountOpenIdTokenCreator"); err != nil {
			return err
		}
	}
	// Pub/Sub mints the push OIDC tokens as the push invoker.
	if _, err := p.G.Run("iam", "service-accounts", "add-iam-policy-binding", p.sa(SAPushInvoker), p.pf(),
		"--member="+agent, "--role=roles/iam.serviceAccountTokenCreator"); err != nil {
		return err
	}
	// Pub/Sub forwards dead letters: publisher on the dead-letter topic,
	// subscriber on every source subscription.
	if _, err := p.G.Run("pubsub", "topics", "add-iam-policy-binding", p.Decl.DeadLetterTopic, "--member="+agent, "--role=roles/pubsub.publisher", p.pf()); err != nil {
		return err
	}
	for _, s := range p.Decl.Subscriptions {
		if _, err := p.G.Run("pubsub", "subscriptions", "add-iam-policy-binding", s.Name, "--member="+agent, "--role=roles/pubsub.subscriber", p.pf()); err != nil {
			return err
		}
	}
	// The operator page lists the held dead letters and redrives them:
	// order-service pulls from the hold subscription (it publishes to
	// the saga topic already).
	if _, err := p.G.Run("pubsub", "subscriptions", "add-iam-policy-binding", p.Decl.DeadLetterSubscription,
		"--member=serviceAccount:"+p.sa(ServiceAccount(saga.OrderService)), "--role=roles/pubsub.subscriber", p.pf()); err != nil {
		return err
	}
	return nil
}

func (p *Plan) scheduler() error {
	p.step("Cloud Scheduler: the timeout sweep and the reconciliation, with OIDC; retired jobs deleted")
	for _, j := range Jobs {
		base, err := p.URL(j.Service)
		if err != nil {
			return err
		}
		args := []string{j.Name, "--location=" + p.Region, "--schedule=" + j.Schedule, "--uri=" + base + j.Path,
			"--http-method=POST", "--oidc-service-account-email=" + p.sa(SAScheduler), "--oidc-token-audience=" + base,
			"--attempt-deadline=120s", p.pf()}
		verb := "update"
		if _, err := p.G.Describe("scheduler", "jobs", "describe", j.Name, "--location="+p.Region, p.pf()); errors.Is(err, errNotFound) {
			verb = "create"
		} else if err != nil {
			return err
		}
		if _, err := p.G.Run(append([]string{"scheduler", "jobs", verb, "http"}, args...)...); err != nil {
			return err
		}
	}
	for _, name := range RetiredJobs {
		if _, err := p.G.Run("scheduler", "jobs", "delete", name, "--location="+p.Region, p.pf()); err != nil && !errors.Is(err, errNotFound) {
			return err
		}
	}
	return nil
}

// Destroy removes what All created, except the Firestore database (its
// data outlives a deploy; delete it by hand if you mean it).
func (p *Plan) Destroy() error {
	p.step("destroy: scheduler jobs, subscriptions, topics, schema, services, service accounts (Firestore data is kept)")
	var cmds [][]string
	for _, j := range Jobs {
		cmds = append(cmds, []string{"scheduler", "jobs", "delete", j.Name, "--location=" + p.Region, p.pf()})
	}
	for _, name := range RetiredJobs {
		cmds = append(cmds, []string{"scheduler", "jobs", "delete", name, "--location=" + p.Region, p.pf()})
	}
	for _, s := range p.Decl.Subscriptions {
		cmds = append(cmds, []string{"pubsub", "subscriptions", "delete", s.Name, p.pf()})
	}
	cmds = append(cmds, []string{"pubsub", "subscriptions", "delete", p.Decl.DeadLetterSubscription, p.pf()},
		[]string{"pubsub", "topics", "delete", p.Decl.Topic, p.pf()},
		[]string{"pubsub", "topics", "delete", p.Decl.DeadLetterTopic, p.pf()},
		[]string{"pubsub", "schemas", "delete", p.Decl.Schema.Name, p.pf()})
	for _, s := range Services {
		cmds = append(cmds, []string{"run", "services", "delete", s, "--region=" + p.Region, p.pf()})
	}
	for _, n := range []string{SAPushInvoker, SAScheduler, SAOperator, ServiceAccount(saga.OrderService), ServiceAccount(saga.PointService), ServiceAccount(saga.TicketService)} {
		cmds = append(cmds, []string{"iam", "service-accounts", "delete", p.sa(n), p.pf()})
	}
	for _, c := range cmds {
		if _, err := p.G.Run(c...); err != nil && !errors.Is(err, errNotFound) {
			return err
		}
	}
	return nil
}
