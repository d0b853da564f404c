// Seed 004's "Fine-tune flow — fetch (outline)", verbatim; the test fills in YOUR_API_BASE and
// YOUR_API_KEY, as its documentation says to.
const API_BASE = 'YOUR_API_BASE';
const API_KEY = 'YOUR_API_KEY';
const hdr = { 'Content-Type': 'application/json', 'X-API-Key': API_KEY };

// 1) Create dataset
let r = await fetch(`${API_BASE}/api/v1/finetune/datasets`, {
  method: 'POST', headers: hdr,
  body: JSON.stringify({ title: 'My dataset', records: [] }),
});
const ds = await r.json();
const datasetId = ds.id || ds._id;

// 2) Create job
r = await fetch(`${API_BASE}/api/v1/finetune/jobs`, {
  method: 'POST', headers: hdr,
  body: JSON.stringify({ datasetId, baseModel: 'llama3.2' }),
});
const job = await r.json();
const jobId = job.id || job._id;

// 3) Start training
await fetch(`${API_BASE}/api/v1/finetune/jobs/${jobId}/start`, { method: 'POST', headers: hdr });

// 4) Poll status
let status;
do {
  await new Promise((x) => setTimeout(x, 5000));
  r = await fetch(`${API_BASE}/api/v1/finetune/jobs/${jobId}`, { headers: { 'X-API-Key': API_KEY } });
  status = await r.json();
} while (status.state === 'running' || status.state === 'pending');

// 5) Register model in Ollama, then chat with modelName
await fetch(`${API_BASE}/api/v1/finetune/jobs/${jobId}/register`, {
  method: 'POST', headers: hdr,
  body: JSON.stringify({ modelName: 'my-tuned-model' }),
});

await fetch(`${API_BASE}/api/v1/chat`, {
  method: 'POST', headers: hdr,
  body: JSON.stringify({
    model: 'my-tuned-model',
    messages: [{ role: 'user', content: 'Hello' }],
  }),
});

