package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The policies of the issue: users read and write only under
// {auth.uid()}/... in a private bucket; everyone reads a public bucket.
const rlsPolicies = `
create policy own_select on storage.objects for select to authenticated
  using (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text);
create policy own_insert on storage.objects for insert to authenticated
  with check (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text);
create policy own_update on storage.objects for update to authenticated
  using (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text)
  with check (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text);
create policy own_delete on storage.objects for delete to authenticated
  using (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text);
create policy public_read on storage.objects for select to anon, authenticated
  using (bucket_id = 'public');
`

func TestRLS(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		if _, err := e.DB.DB.Admin.Exec(context.Background(), rlsPolicies); err != nil {
			t.Fatal(err)
		}
		e.createBucket(t, "private", false)
		e.createBucket(t, "public", true)
		u1, u2 := e.uid1, e.uid2
		put := func(path, body string) {
			e.mustDo(t, 200, "POST", "/storage/v1/object/"+path, e.service("Content-Type", "text/plain"), body)
		}
		put("private/"+u1+"/a.txt", "u1 data")
		put("private/"+u2+"/b.txt", "u2 data")
		put("public/p.txt", "public data")

		type caller struct {
			name, token string
		}
		callers := []caller{{"anon", e.AnonKey}, {"user1", e.user1}, {"user2", e.user2}, {"service", e.ServiceRoleKey}}
		// want[i] is the status for callers[i].
		check := func(what, method, path string, body any, want [4]int, extra ...string) []string {
			t.Helper()
			out := make([]string, 4)
			for i, c := range callers {
				p := strings.ReplaceAll(path, "{caller}", c.name)
				var b any
				if s, ok := body.(string); ok {
					b = strings.ReplaceAll(s, "{caller}", c.name)
				} else {
					b = body
				}
				code, resp, _ := e.do(t, method, p, as(c.token, extra...), b)
				if code != want[i] {
					t.Errorf("%s as %s: %s %s = %d, want %d; %s", what, c.name, method, p, code, want[i], resp)
				}
				out[i] = resp
			}
			return out
		}
		js := []string{"Content-Type", "application/json"}

		check("upload into user1's folder", "POST", "/storage/v1/object/private/"+u1+"/up-{caller}.txt", "x",
			[4]int{401, 200, 403, 200}, "Content-Type", "text/plain")
		check("overwrite user1's file", "POST", "/storage/v1/object/private/"+u1+"/a.txt", "over",
			[4]int{401, 200, 403, 200}, "Content-Type", "text/plain", "x-upsert", "true")
		check("download user1's file", "GET", "/storage/v1/object/private/"+u1+"/a.txt", nil, [4]int{404, 200, 404, 200})
		check("info of user1's file", "GET", "/storage/v1/object/info/private/"+u1+"/a.txt", nil, [4]int{404, 200, 404, 200})
		check("download user2's file", "GET", "/storage/v1/object/private/"+u2+"/b.txt", nil, [4]int{404, 404, 200, 200})
		check("native download of user1's file", "GET", "/api/v1/storage/private/"+u1+"/a.txt", nil, [4]int{404, 200, 404, 200})
		check("download from the public bucket", "GET", "/storage/v1/object/public/public/p.txt", nil, [4]int{200, 200, 200, 200})
		check("authenticated download from the public bucket", "GET", "/storage/v1/object/authenticated/public/p.txt", nil, [4]int{200, 200, 200, 200})
		check("native download from the public bucket", "GET", "/api/v1/storage/public/p.txt", nil, [4]int{200, 200, 200, 200})
		check("upload into the public bucket", "POST", "/storage/v1/object/public/{caller}.txt", "x", [4]int{401, 403, 403, 200},
			"Content-Type", "text/plain")

		lists := check("list user1's folder", "POST", "/storage/v1/object/list/private", `{"prefix":"`+u1+`"}`,
			[4]int{200, 200, 200, 200}, js...)
		for i, want := range []bool{false, true, false, true} {
			if got := strings.Contains(lists[i], `"name":"a.txt"`); got != want {
				t.Errorf("list as %s shows a.txt = %v, want %v: %s", callers[i].name, got, want, lists[i])
			}
		}
		roots := check("list the bucket root", "POST", "/storage/v1/object/list/private", `{"prefix":""}`, [4]int{200, 200, 200, 200}, js...)
		for i, want := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			if strings.Contains(roots[i], `"name":"`+u1+`"`) != want[0] || strings.Contains(roots[i], `"name":"`+u2+`"`) != want[1] {
				t.Errorf("root listing as %s: %s", callers[i].name, roots[i])
			}
		}
		native := check("native listing", "GET", "/api/v1/storage/private?prefix="+u1+"/", nil, [4]int{200, 200, 200, 200})
		for i, want := range []int{0, 3, 0, 3} { // a.txt, up-user1.txt, up-service.txt
			var l struct{ Objects []json.RawMessage }
			_ = json.Unmarshal([]byte(native[i]), &l)
			if len(l.Objects) != want {
				t.Errorf("native listing as %s: %d objects, want %d: %s", callers[i].name, len(l.Objects), want, native[i])
			}
		}

		check("sign user1's file", "POST", "/storage/v1/object/sign/private/"+u1+"/a.txt", `{"expiresIn":60}`, [4]int{404, 200, 404, 200}, js...)
		check("sign an upload into user1's folder", "POST", "/storage/v1/object/upload/sign/private/"+u1+"/signed-{caller}.txt", nil,
			[4]int{401, 200, 403, 200})

		check("copy user1's file within user1's folder", "POST", "/storage/v1/object/copy",
			fmt.Sprintf(`{"bucketId":"private","sourceKey":"%s/a.txt","destinationKey":"%s/copy-{caller}.txt"}`, u1, u1),
			[4]int{404, 200, 404, 200}, js...)
		check("copy own file into user1's folder", "POST", "/storage/v1/object/copy",
			fmt.Sprintf(`{"bucketId":"private","sourceKey":"%s/b.txt","destinationKey":"%s/stolen-{caller}.txt"}`, u2, u1),
			[4]int{404, 404, 403, 200}, js...)

		check("move user1's file into user2's folder", "POST", "/storage/v1/object/move",
			fmt.Sprintf(`{"bucketId":"private","sourceKey":"%s/up-user1.txt","destinationKey":"%s/moved-{caller}.txt"}`, u1, u2),
			[4]int{404, 403, 404, 200}, js...)
		check("move within user1's folder", "POST", "/storage/v1/object/move",
			fmt.Sprintf(`{"bucketId":"private","sourceKey":"%s/up-service.txt","destinationKey":"%s/renamed.txt"}`, u1, u1),
			[4]int{404, 200, 404, 404}, js...)

		check("delete user1's file", "DELETE", "/storage/v1/object/private/"+u1+"/a.txt", nil, [4]int{404, 200, 404, 404})
		check("delete user2's file", "DELETE", "/storage/v1/object/private/"+u2+"/b.txt", nil, [4]int{404, 404, 200, 404})
		check("delete from the public bucket", "DELETE", "/storage/v1/object/public/p.txt", nil, [4]int{404, 404, 404, 200})

		// Owners are the callers' subjects.
		var owner string
		if err := e.DB.DB.Admin.QueryRow(context.Background(),
			`select owner_id from storage.objects where name = $1`, u1+"/copy-user1.txt").Scan(&owner); err != nil || owner != u1 {
			t.Errorf("owner of user1's copy = %q, %v", owner, err)
		}
		eventually(t, "bytes of deleted objects removed", func() bool { return len(e.storedKeys(t)) == e.objectRows(t) })
	})
}
