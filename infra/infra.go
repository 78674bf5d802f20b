// Package infra is the one declaration of the saga's Pub/Sub resources:
// the topic and its schema, the dead-letter topic and every push
// subscription. The local bootstrap and the deploy both read it, so they
// cannot drift.
package infra

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ticketsaga/saga/shared/saga"
)

//go:embed pubsub.json
var declaration []byte

//go:embed indexes.json
var indexDeclaration []byte

// schemas holds every schema file, so that pubsub.json alone names the
// topic's.
//
//go:embed *.avsc
var schemas embed.FS

// Index is a composite Firestore index and the queries that need it.
type Index struct {
	Collection string   `json:"collection"`
	Fields     []string `json:"fields"`
	Queries    []string `json:"queries"`
}

// Exemption turns a field's single-field indexes off: a field no query
// filters or orders on alone, whose index entries would only cost writes,
// or whose values grow with time and would put every write of its
// collection in one index range (500 writes/s, docs/capacity.md).
type Exemption struct {
	Collection string `json:"collection"`
	Field      string `json:"field"`
	Why        string `json:"why"`
}

// Firestore is the whole Firestore declaration of infra/indexes.json.
type Firestore struct {
	// Indexes are the composite indexes; Exempt the fields without
	// single-field indexes; HighWrite the collections written at the
	// rate of orders, where no index may put the writes in one range.
	Indexes   []Index     `json:"indexes"`
	Exempt    []Exemption `json:"exempt"`
	HighWrite []string    `json:"high_write"`
	TTL       []TTL       `json:"ttl"`
	// Bucket is the field that spreads a high-write collection's
	// time-ordered index entries over key ranges: it leads every composite
	// index with a time in it.
	Bucket string `json:"bucket_field"`
}

// FirestoreDeclaration returns infra/indexes.json.
func FirestoreDeclaration() (Firestore, error) {
	var d Firestore
	if err := json.Unmarshal(indexDeclaration, &d); err != nil {
		return Firestore{}, fmt.Errorf("infra/indexes.json: %w", err)
	}
	return d, nil
}

// TTL is a Firestore TTL policy: a document of the collection group is
// deleted once the time in its field has passed.
type TTL struct {
	CollectionGroup string `json:"collection_group"`
	Field           string `json:"field"`
	Retention       string `json:"retention"`
}

// PubSub is the declaration.
type PubSub struct {
	Topic                  string         `json:"topic"`
	DeadLetterTopic        string         `json:"dead_letter_topic"`
	DeadLetterSubscription string         `json:"dead_letter_subscription"`
	Schema                 Schema         `json:"schema"`
	Subscriptions          []Subscription `json:"subscriptions"`
}

// Consumers maps each subscription to the event types it consumes.
func (p PubSub) Consumers() map[string][]saga.EventType {
	out := map[string][]saga.EventType{}
	for _, s := range p.Subscriptions {
		out[s.Name] = s.EventTypes
	}
	return out
}

// OpsEnv is what order-service's operator page needs of the declaration,
// as environment settings: the dead-letter hold subscription
// (DEAD_LETTER_SUBSCRIPTION) and which event types each subscription
// consumes (SAGA_SUBSCRIPTIONS, read by ops.ParseConsumers).
func (p PubSub) OpsEnv() []string {
	var subs []string
	for _, s := range p.Subscriptions {
		types := make([]string, len(s.EventTypes))
		for i, t := range s.EventTypes {
			types[i] = string(t)
		}
		subs = append(subs, s.Name+"="+strings.Join(types, "|"))
	}
	return []string{"DEAD_LETTER_SUBSCRIPTION=" + p.DeadLetterSubscription, "SAGA_SUBSCRIPTIONS=" + strings.Join(subs, " ")}
}

// Schema is the topic's schema: every message published to the topic must
// match one of its revisions (docs/events.md).
type Schema struct {
	Name     string `json:"name"`
	Type     string `json:"type"`     // avro
	Encoding string `json:"encoding"` // json: the envelope as it is
	File     string `json:"file"`     // in infra/
	// Definition is the file's content.
	Definition string `json:"-"`
}

// Path is the schema file's path from the repository's root, where make
// runs the deploy.
func (s Schema) Path() string { return "infra/" + s.File }

// Same reports whether definition, as Pub/Sub returns it, is s's: equal
// once both are compacted, so that layout alone never makes a revision.
func (s Schema) Same(definition string) bool {
	var a, b bytes.Buffer
	return json.Compact(&a, []byte(s.Definition)) == nil && json.Compact(&b, []byte(definition)) == nil && a.String() == b.String()
}

// Subscription is one push subscription.
type Subscription struct {
	Name                string           `json:"name"`
	Service             string           `json:"service"`
	PushPath            string           `json:"push_path"`
	EventTypes          []saga.EventType `json:"event_types"`
	AckDeadlineSeconds  int32            `json:"ack_deadline_seconds"`
	MaxDeliveryAttempts int32            `json:"max_delivery_attempts"`
	MinRetryDelay       Duration         `json:"min_retry_delay"`
	MaxRetryDelay       Duration         `json:"max_retry_delay"`
}

// Duration is a time.Duration written as a Go duration string.
type Duration struct{ time.Duration }

// UnmarshalJSON parses "1s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	d.Duration = v
	return err
}

// Filter is the subscription's Pub/Sub filter: its event types, except
// messages redriven to another subscription, plus those redriven to it.
func (s Subscription) Filter() string {
	parts := make([]string, len(s.EventTypes))
	for i, t := range s.EventTypes {
		parts[i] = fmt.Sprintf(`attributes.%s = "%s"`, saga.AttrEventType, t)
	}
	return fmt.Sprintf(`((%s) AND NOT attributes:%s) OR attributes.%s = "%s"`,
		strings.Join(parts, " OR "), saga.AttrRedriveTo, saga.AttrRedriveTo, s.Name)
}

// Matches says whether Filter lets a message with these attributes through:
// the Pub/Sub emulator ignores filters, so the local stack applies them with
// this (tools/pushfilter). TestMatchesIsFilter keeps the two in step.
func (s Subscription) Matches(attrs map[string]string) bool {
	if to, ok := attrs[saga.AttrRedriveTo]; ok {
		return to == s.Name
	}
	return slices.Contains(s.EventTypes, saga.EventType(attrs[saga.AttrEventType]))
}

// maxFilter is Pub/Sub's limit on a filter's length.
const maxFilter = 256

// Load returns the declaration, checked.
func Load() (PubSub, error) {
	var p PubSub
	if err := json.Unmarshal(declaration, &p); err != nil {
		return PubSub{}, fmt.Errorf("infra/pubsub.json: %w", err)
	}
	if err := p.check(); err != nil {
		return PubSub{}, err
	}
	def, err := schemas.ReadFile(p.Schema.File)
	if err != nil {
		return PubSub{}, fmt.Errorf("infra/pubsub.json: schema: %w", err)
	}
	if !json.Valid(def) {
		return PubSub{}, fmt.Errorf("infra/%s: not JSON", p.Schema.File)
	}
	p.Schema.Definition = string(def)
	return p, nil
}

func (p PubSub) check() error {
	switch {
	case p.Topic == "" || p.DeadLetterTopic == "":
		return fmt.Errorf("infra/pubsub.json: topic and dead_letter_topic are required")
	case p.Schema.Name == "" || p.Schema.File == "":
		return fmt.Errorf("infra/pubsub.json: schema name and file are required")
	case p.Schema.Type != "avro" || p.Schema.Encoding != "json":
		// The services publish the envelope as JSON; another type or
		// encoding would refuse every event.
		return fmt.Errorf("infra/pubsub.json: schema must be type avro, encoding json")
	}
	seen := map[string]bool{}
	for _, s := range p.Subscriptions {
		switch {
		case s.Name == "" || seen[s.Name]:
			return fmt.Errorf("infra/pubsub.json: subscription name %q empty or repeated", s.Name)
		case s.Service != saga.OrderService && s.Service != saga.PointService && s.Service != saga.TicketService:
			return fmt.Errorf("infra/pubsub.json: %s: unknown service %q", s.Name, s.Service)
		case !strings.HasPrefix(s.PushPath, "/"):
			return fmt.Errorf("infra/pubsub.json: %s: push_path must start with /", s.Name)
		case len(s.EventTypes) == 0:
			return fmt.Errorf("infra/pubsub.json: %s: no event_types", s.Name)
		case s.MaxDeliveryAttempts < 5 || s.MaxDeliveryAttempts > 100:
			return fmt.Errorf("infra/pubsub.json: %s: max_delivery_attempts must be 5-100", s.Name)
		case s.AckDeadlineSeconds < 10 || s.AckDeadlineSeconds > 600:
			return fmt.Errorf("infra/pubsub.json: %s: ack_deadline_seconds must be 10-600", s.Name)
		case s.MinRetryDelay.Duration < 0 || s.MaxRetryDelay.Duration > 600*time.Second || s.MinRetryDelay.Duration > s.MaxRetryDelay.Duration:
			return fmt.Errorf("infra/pubsub.json: %s: retry delays must satisfy 0 <= min <= max <= 600s", s.Name)
		}
		if len(s.Filter()) > maxFilter {
			return fmt.Errorf("infra/pubsub.json: %s: filter longer than %d bytes", s.Name, maxFilter)
		}
		for _, t := range s.EventTypes {
			if !t.Valid() {
				return fmt.Errorf("infra/pubsub.json: %s: unknown event type %q", s.Name, t)
			}
		}
		seen[s.Name] = true
	}
	return nil
}
