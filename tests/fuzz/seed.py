#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/<target>/ from the project's own
realistic inputs: the OCPP fixtures, docs/openapi.json (every route with its
parameters and body examples), docs/ocppgw.conf.example, valid cursors and
Basic headers. Run from the top of the tree; existing files are kept (the
names are content hashes, as libFuzzer's)."""
import base64, hashlib, json, os, struct, glob

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join('tests/fuzz/corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), 'wb') as f:
        f.write(data)

# ---- OCPP frames (what `make fuzz` used to generate in build-fuzz/corpus)
for f in sorted(glob.glob('tests/fixtures/ocpp/*.req.json')):
    a = os.path.basename(f)[:-len('.req.json')]
    put('fuzz_dispatch', '[2,"%s","%s",%s]' % (a, a, open(f).read().strip()))
for f in sorted(glob.glob('tests/fixtures/ocpp/*.conf.json')):
    a = os.path.basename(f)[:-len('.conf.json')]
    put('fuzz_dispatch', '[3,"%s",%s]' % (a, open(f).read().strip()))
put('fuzz_dispatch', '[4,"x","GenericError","",{}]')

# ---- REST requests
KEY = 'Authorization: Bearer ogw_fuzz_admin_key'
api = json.load(open('docs/openapi.json'))
def example(schema, depth=0):
    if not isinstance(schema, dict) or depth > 6:
        return None
    if '$ref' in schema:
        ref = schema['$ref'].split('/')[-1]
        return example(api.get('components', {}).get('schemas', {}).get(ref, {}), depth + 1)
    if 'example' in schema:
        return schema['example']
    if 'enum' in schema:
        return schema['enum'][0]
    t = schema.get('type')
    if t == 'object' or 'properties' in schema:
        return {k: example(v, depth + 1) for k, v in schema.get('properties', {}).items()}
    if t == 'array':
        return [example(schema.get('items', {}), depth + 1)]
    if t == 'integer':
        return schema.get('minimum', 1)
    if t == 'number':
        return 1.5
    if t == 'boolean':
        return True
    if schema.get('format') == 'date-time':
        return '2026-01-02T03:04:05Z'
    return 'CP-1'
fill = {'id': 'CP-1', 'action': 'Reset', 'commandId': 'cmd-1', 'idTag': 'TAG1'}
for path, item in api['paths'].items():
    for method, op in item.items():
        if method not in ('get', 'post', 'put', 'patch', 'delete'):
            continue
        p = path
        for k, v in fill.items():
            p = p.replace('{%s}' % k, v if not (k == 'id' and path.startswith(('/v1/sessions', '/v1/api-keys'))) else '7')
        q = []
        for prm in op.get('parameters', []) + item.get('parameters', []):
            if isinstance(prm, dict) and prm.get('in') == 'query':
                v = example(prm.get('schema', {}))
                if isinstance(v, bool):
                    v = 'true' if v else 'false'
                q.append('%s=%s' % (prm['name'], v))
        headers = [KEY]
        body = ''
        rb = op.get('requestBody', {}).get('content', {}).get('application/json')
        if rb is not None:
            ex = rb.get('example')
            if ex is None:
                for e in rb.get('examples', {}).values():
                    ex = e.get('value'); break
            if ex is None:
                ex = example(rb.get('schema', {}))
            body = json.dumps(ex)
            headers += ['Content-Type: application/json', 'Idempotency-Key: k-1']
        line = '%s %s%s' % (method.upper(), p, ('?' + '&'.join(q)) if q else '')
        put('fuzz_rest', '\n'.join([line] + headers) + '\n\n' + body)
        if q:
            put('fuzz_rest', '\n'.join(['%s %s?%s' % (method.upper(), p, q[0]), KEY, 'Prefer: return=minimal', 'Api-Version: V2026_11_21']) + '\n\n')
put('fuzz_rest', 'GET /v1/openapi.json\n\n')
put('fuzz_rest', 'OPTIONS /v1/chargers\nOrigin: https://app.example\nAccess-Control-Request-Method: POST\nAccess-Control-Request-Headers: content-type\n\n')
put('fuzz_rest', 'GET /v1/chargers?per_page=2&sort=id&status=Available,Faulted\nx-api-key: ogw_fuzz_admin_key\n\n')
put('fuzz_rest', 'PATCH /v1/chargers/CP-1\nAuthorization: Bearer ogw_fuzz_admin_key\nContent-Type: application/json\nIf-Match: "1"\n\n{"description":null}')

# ---- cursors: valid ones as cursor.c makes them
def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip('=')
for kind, sort, desc, key, rid in [(1, 0, 0, 1, 1), (2, 1, 1, 1700000000000000, 42), (4, 0, 0, -1, 2**62), (8, 3, 1, 0, 0)]:
    body = struct.pack('>BBBBqq', 1, kind, sort, desc, key, rid)
    raw = body + hashlib.sha256(b'ocppgw-cursor' + body).digest()[:8]
    put('fuzz_cursor', b64url(raw))
put('fuzz_cursor', 'A' * 38)
put('fuzz_cursor', bytes(range(19)))

# ---- Basic headers
for u, p in [('CP-1', 'secret'), ('CP 2', 'p:ss'), ('', ''), ('CP-1', 'x' * 40), ('ünï', 'ç')]:
    put('fuzz_basic_auth', 'Basic ' + base64.b64encode(('%s:%s' % (u, p)).encode()).decode())
put('fuzz_basic_auth', 'basic   Q1AtMTpzZWNyZXQ=  ')
put('fuzz_basic_auth', 'Basic Q1AtMQ==')
put('fuzz_basic_auth', 'Bearer abc')

# ---- config files
put('fuzz_config', open('docs/ocppgw.conf.example').read())
put('fuzz_config', '[server]\nlisten = 127.0.0.1:9000\napi_listen = [::1]:9001\n[database]\nconninfo = dbname=x\n')
put('fuzz_config', '; comment\n[log]\nlevel = debug\nformat = json\n')
