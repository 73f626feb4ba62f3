package realtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

// Change is one row change, decoded from the replication stream.
type Change struct {
	Schema string
	Table  string
	// Type is INSERT, UPDATE or DELETE.
	Type    string
	Columns []ColumnInfo
	// Record is the new row (INSERT, UPDATE); OldRecord the old row or, with
	// the default replica identity, its key columns (UPDATE of a key,
	// DELETE). Values are JSON, typed after the column: numbers, booleans,
	// json and arrays as such, everything else as PostgreSQL's text.
	Record    map[string]json.RawMessage
	OldRecord map[string]json.RawMessage
	// Unchanged lists TOASTed columns an UPDATE did not touch and the
	// stream therefore did not carry (absent from Record unless the old
	// row had them, i.e. REPLICA IDENTITY FULL).
	Unchanged       []string
	CommitTimestamp time.Time
	// Seq orders changes across the stream: the commit LSN of the
	// transaction and the change's position in it.
	CommitLSN pglogrepl.LSN
	Seq       int
	// Xid is the transaction's id (32 bits, as the stream carries it).
	Xid uint32
	// KeyColumns are the replica identity's columns (usually the primary
	// key), for subscribers that may only see the key of a deleted row.
	KeyColumns []string
}

// ColumnInfo names a column and its type, as Supabase's events do.
type ColumnInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type relation struct {
	msg     *pglogrepl.RelationMessage
	columns []ColumnInfo
	keys    []string
}

// decoder turns pgoutput messages into Changes, keeping the relation
// descriptions the server sends before a relation's first change.
type decoder struct {
	relations map[uint32]*relation
	types     *pgtype.Map
	inTx      bool
	commitTS  time.Time
	commitLSN pglogrepl.LSN
	xid       uint32
	seq       int
}

func newDecoder() *decoder {
	return &decoder{relations: map[uint32]*relation{}, types: pgtype.NewMap()}
}

// decode handles one message. It returns a change for row messages and,
// for a commit, the LSN after which a restart may resume.
func (d *decoder) decode(data []byte) (*Change, pglogrepl.LSN, error) {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return nil, 0, fmt.Errorf("realtime: decode: %w", err)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		d.inTx, d.commitTS, d.commitLSN, d.xid, d.seq = true, m.CommitTime, m.FinalLSN, m.Xid, 0
	case *pglogrepl.CommitMessage:
		d.inTx = false
		return nil, m.TransactionEndLSN, nil
	case *pglogrepl.RelationMessage:
		d.relations[m.RelationID] = d.describe(m)
	case *pglogrepl.InsertMessage:
		return d.row(m.RelationID, "INSERT", m.Tuple, nil, 0)
	case *pglogrepl.UpdateMessage:
		return d.row(m.RelationID, "UPDATE", m.NewTuple, m.OldTuple, m.OldTupleType)
	case *pglogrepl.DeleteMessage:
		return d.row(m.RelationID, "DELETE", nil, m.OldTuple, m.OldTupleType)
	}
	return nil, 0, nil
}

func (d *decoder) describe(m *pglogrepl.RelationMessage) *relation {
	r := &relation{msg: m, columns: make([]ColumnInfo, len(m.Columns))}
	for i, c := range m.Columns {
		r.columns[i] = ColumnInfo{Name: c.Name, Type: d.typeName(c.DataType)}
		if c.Flags&1 != 0 {
			r.keys = append(r.keys, c.Name)
		}
	}
	return r
}

// typeName names a type as Supabase's events do (int4, text, _int4, ...);
// types the driver does not know (enums, domains) are named by OID until
// the schema cache resolves them.
func (d *decoder) typeName(oid uint32) string {
	if t, ok := d.types.TypeForOID(oid); ok {
		return t.Name
	}
	return strconv.FormatUint(uint64(oid), 10)
}

func (d *decoder) row(rel uint32, typ string, newTuple, oldTuple *pglogrepl.TupleData, oldType uint8) (*Change, pglogrepl.LSN, error) {
	r, ok := d.relations[rel]
	if !ok {
		return nil, 0, errNoRelation
	}
	d.seq++
	c := &Change{
		Schema: r.msg.Namespace, Table: r.msg.RelationName, Type: typ,
		Columns: r.columns, CommitTimestamp: d.commitTS, CommitLSN: d.commitLSN, Seq: d.seq, Xid: d.xid,
		KeyColumns: r.keys,
	}
	if oldTuple != nil {
		c.OldRecord, _ = d.tuple(r, oldTuple, oldType == pglogrepl.UpdateMessageTupleTypeKey)
	}
	if newTuple != nil {
		var unchanged []string
		c.Record, unchanged = d.tuple(r, newTuple, false)
		for _, name := range unchanged {
			if v, ok := c.OldRecord[name]; ok {
				c.Record[name] = v
			} else {
				c.Unchanged = append(c.Unchanged, name)
			}
		}
	}
	if c.Record == nil {
		c.Record = map[string]json.RawMessage{}
	}
	if c.OldRecord == nil {
		c.OldRecord = map[string]json.RawMessage{}
	}
	return c, 0, nil
}

// tuple converts a tuple to JSON values by column. With keyOnly, only the
// replica identity's columns are filled (the others arrive as nulls).
func (d *decoder) tuple(r *relation, t *pglogrepl.TupleData, keyOnly bool) (map[string]json.RawMessage, []string) {
	out := make(map[string]json.RawMessage, len(t.Columns))
	var unchanged []string
	for i, col := range t.Columns {
		if i >= len(r.msg.Columns) {
			break
		}
		rc := r.msg.Columns[i]
		if keyOnly && rc.Flags&1 == 0 {
			continue
		}
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			out[rc.Name] = json.RawMessage("null")
		case pglogrepl.TupleDataTypeToast:
			unchanged = append(unchanged, rc.Name)
		case pglogrepl.TupleDataTypeText:
			out[rc.Name] = d.value(rc.DataType, col.Data)
		}
	}
	return out, unchanged
}

// value converts PostgreSQL's text form of a value to JSON.
func (d *decoder) value(oid uint32, text []byte) json.RawMessage {
	switch oid {
	case pgtype.JSONOID, pgtype.JSONBOID:
		if json.Valid(text) {
			return json.RawMessage(bytes.Clone(text))
		}
	case pgtype.BoolOID:
		if len(text) == 1 {
			if text[0] == 't' {
				return json.RawMessage("true")
			}
			return json.RawMessage("false")
		}
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID,
		pgtype.Float4OID, pgtype.Float8OID, pgtype.NumericOID:
		// NaN and Infinity are not JSON numbers; they stay strings.
		if _, err := strconv.ParseFloat(string(text), 64); err == nil && isJSONNumber(text) {
			return json.RawMessage(bytes.Clone(text))
		}
	default:
		if t, ok := d.types.TypeForOID(oid); ok {
			if _, isArray := t.Codec.(*pgtype.ArrayCodec); isArray {
				if v, err := t.Codec.DecodeValue(d.types, oid, pgtype.TextFormatCode, text); err == nil {
					if b, err := json.Marshal(v); err == nil {
						return b
					}
				}
			}
		}
	}
	b, _ := json.Marshal(string(text))
	return b
}

func isJSONNumber(b []byte) bool {
	var v json.Number
	return json.Unmarshal(b, &v) == nil
}
