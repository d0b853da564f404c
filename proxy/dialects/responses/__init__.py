"""OpenAI's Responses API as a dialect: parse (request → canonical), render (answers and the
event stream), dialect (what the pipeline renders with), store (stored responses), views and
routes, schema (its OpenAPI pieces). Registered in proxy.dialects.MODULES."""
