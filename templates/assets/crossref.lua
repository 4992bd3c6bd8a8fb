--[[
crossref.lua: Quarto-style figure and table cross-references for pandoc.

Run before --citeproc (the embedded engine does). It

  * numbers figures (`![Caption](path){#fig-x}`, or a `::: {#fig-x}` div whose
    last paragraph is the caption) and tables (`: Caption {#tbl-x}`, or a
    `::: {#tbl-x}` div holding one table) in document order;
  * writes the label into each caption: "Figure 1. Caption", "Table 1. Caption"
    (metadata crossref.fig-title, crossref.tbl-title, crossref.title-delim;
    defaults Figure, Table, ".");
  * replaces the citations `@fig-x` / `@tbl-x` with "Figure 1" / "Table 1"
    (crossref.fig-prefix, crossref.tbl-prefix; a non-breaking space before the
    number), linked to the figure or table; `-@fig-x` gives the number alone;
  * stops with an error naming any `@fig-…` / `@tbl-…` that has no target,
    and any label used twice.

Figures and tables without a fig-/tbl- identifier stay unnumbered, as in Quarto.
]]

local stringify = pandoc.utils.stringify

local NBSP = '\u{00A0}'
local KINDS = { fig = true, tbl = true }

local opts = {
  fig = { title = 'Figure', prefix = 'Figure' },
  tbl = { title = 'Table', prefix = 'Table' },
  delim = '.',
}
local labels = {}          -- id -> { kind = 'fig'|'tbl', number = n }
local counts = { fig = 0, tbl = 0 }

local function fail(message)
  error('refracture: ' .. message, 0)
end

local function kind_of(id)
  if not id then return nil end
  local kind = id:match('^(%a+)%-.')
  if kind and KINDS[kind] then return kind end
  return nil
end

local function read_options(meta)
  local cr = meta.crossref
  if type(cr) ~= 'table' then return end
  local function get(key, default)
    local v = cr[key]
    if v == nil then return default end
    return stringify(v)
  end
  opts.fig.title = get('fig-title', opts.fig.title)
  opts.tbl.title = get('tbl-title', opts.tbl.title)
  opts.fig.prefix = get('fig-prefix', opts.fig.prefix)
  opts.tbl.prefix = get('tbl-prefix', opts.tbl.prefix)
  opts.delim = get('title-delim', opts.delim)
end

local function register(id)
  local kind = kind_of(id)
  if not kind then return nil end
  if labels[id] then fail('duplicate cross-reference label #' .. id) end
  counts[kind] = counts[kind] + 1
  labels[id] = { kind = kind, number = counts[kind] }
  return labels[id]
end

-- "Figure 1. " (bold) in front of the caption's first paragraph.
local function label_caption(caption, target)
  local o = opts[target.kind]
  local long = pandoc.Blocks(caption.long)
  local empty = #long == 0 or stringify(long) == ''
  local text = o.title .. NBSP .. tostring(target.number)
  if not empty then text = text .. opts.delim end
  local label = pandoc.Inlines{ pandoc.Strong{ pandoc.Str(text) } }
  if empty then
    long = pandoc.Blocks{ pandoc.Plain(label) }
  elseif long[1].t == 'Plain' or long[1].t == 'Para' then
    local inl = pandoc.Inlines(label)
    inl:insert(pandoc.Space())
    inl:extend(long[1].content)
    long[1].content = inl
  else
    long:insert(1, pandoc.Plain(label))
  end
  caption.long = long
  return caption
end

local function number_float(float)
  local target = register(float.identifier)
  if target then
    float.caption = label_caption(float.caption, target)
    return float
  end
end

-- `::: {#fig-x}` (content + caption paragraph) -> Figure; `::: {#tbl-x}` with
-- one table (+ caption paragraph) -> that table with the id and caption.
local function div_to_float(div)
  local kind = kind_of(div.identifier)
  if not kind or #div.content == 0 then return nil end
  local content = pandoc.Blocks(div.content)
  local caption = pandoc.Blocks{}
  local last = content[#content]
  if last.t == 'Para' or last.t == 'Plain' then
    caption = pandoc.Blocks{ pandoc.Plain(last.content) }
    content:remove(#content)
  end
  if kind == 'tbl' then
    local tables = {}
    for i, b in ipairs(content) do
      if b.t == 'Table' then tables[#tables + 1] = i end
    end
    if #tables == 1 then
      local tbl = content[tables[1]]
      tbl.identifier = div.identifier
      if #caption > 0 then tbl.caption = pandoc.Caption(caption) end
      content[tables[1]] = number_float(tbl)
      return content, false
    end
  end
  local fig = pandoc.Figure(content, pandoc.Caption(caption), pandoc.Attr(div.identifier, div.classes, div.attributes))
  return number_float(fig), false
end

local function reference(citation)
  local id = citation.id
  local target = labels[id]
  if not target then fail('unknown cross-reference @' .. id .. ' (no figure or table #' .. id .. ')') end
  local text
  if citation.mode == 'SuppressAuthor' then
    text = tostring(target.number)
  else
    text = opts[target.kind].prefix .. NBSP .. tostring(target.number)
  end
  local out = pandoc.Inlines{}
  if #citation.prefix > 0 then
    out:extend(citation.prefix)
    out:insert(pandoc.Space())
  end
  out:insert(pandoc.Link(pandoc.Inlines{ pandoc.Str(text) }, '#' .. id))
  if #citation.suffix > 0 then
    out:extend(citation.suffix)
  end
  return out
end

local function resolve_citation(cite)
  local refs, others = pandoc.List{}, pandoc.List{}
  for _, citation in ipairs(cite.citations) do
    if kind_of(citation.id) then refs:insert(citation) else others:insert(citation) end
  end
  if #refs == 0 then return nil end
  local out = pandoc.Inlines{}
  for i, citation in ipairs(refs) do
    if i > 1 then out:extend{ pandoc.Str(','), pandoc.Space() } end
    out:extend(reference(citation))
  end
  if #others > 0 then
    local keys = others:map(function(c) return '@' .. c.id end)
    out:insert(pandoc.Space())
    out:insert(pandoc.Cite(pandoc.Inlines{ pandoc.Str('[' .. table.concat(keys, '; ') .. ']') }, others))
  end
  return out
end

-- Top-level filter functions (not Lua-side walks): pandoc only hands the
-- matching elements to Lua, which keeps the filter fast on long documents.
-- Three passes: the options (the root only), the floats in document order,
-- then the citations (a reference may come before its figure).
return {
  { Pandoc = function(doc) read_options(doc.meta) end },
  { traverse = 'topdown', Div = div_to_float, Figure = number_float, Table = number_float },
  { Cite = resolve_citation },
}
