// search_writer.hpp — documents as the writers compute them and how they reach
// denorm.search_documents: the document of a row (its source's expressions evaluated
// natively on the tuple), the difference between the documents of a statement's old and
// new rows (what to upsert, what to delete), and the two prepared set-based statements
// that write it, as the extension's owner. The triggers (search_trigger.cpp) and the
// reconcile (search_sync.cpp) write through here. Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
}

#include "pg/search/search_sources.hpp"

namespace denorm::pg {

struct SearchDoc {
    text *key;      // never NULL: a row whose key is NULL has no document
    text *title;    // NULL when the title is NULL
    text *body;
    float4 boost;   // 0 when NULL
    bool visible;   // the filter is true: the row has a document
    int ordinal;    // of equal keys in one list, the greatest wins (the last written)
};

struct DocList {
    int n;
    int capacity;
    SearchDoc *docs;
};

void doc_list_add(DocList *list, const SearchDoc &doc);

// The document of the row in slot (in def's root layout), appended to list unless its key
// is NULL; the values are copied into the current memory context. def's states must be
// built (search_source_states).
void compute_document(const SearchSourceDef *def, TupleTableSlot *slot, ExprContext *econtext, DocList *list);

// Byte order of keys (COLLATE "C", the order of search_documents' primary key).
int compare_keys(const text *a, const text *b);
bool same_document(const SearchDoc &a, const SearchDoc &b);

struct DocWrites {
    DocList upserts;
    int ndeletes;
    int delete_capacity;
    text **deletes;
};

void doc_writes_delete(DocWrites *writes, text *key);

// What turns old_docs into new_docs, key by key (both are sorted here): a visible new
// document is upserted unless the same one was visible before; a key whose visible
// document is gone or hidden is deleted. An UPDATE that changes nothing a source reads
// writes nothing.
void diff_documents(DocList *old_docs, DocList *new_docs, DocWrites *writes);

// Writes them for source `name` (its language: the vector's), as the extension's owner:
// one DELETE ... = ANY and one INSERT ... SELECT FROM unnest ... ON CONFLICT DO UPDATE.
// SPI must be connected.
void write_documents(const char *name, Oid language, DocWrites *writes);

// Deletes every document of the sources named (SPI connected).
void delete_source_documents(char **names, int n);

}  // namespace denorm::pg
