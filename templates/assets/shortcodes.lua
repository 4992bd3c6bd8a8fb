--[[
shortcodes.lua: the parts of refracture's Quarto dialect, other than
cross-references (crossref.lua), that plain pandoc does not know.

  * `{{< pagebreak >}}` alone in a paragraph becomes a real page break:
    `#pagebreak()` (typst), a page-break run (docx), a
    `page-break-after: always` div (html). Any other shortcode, or a shortcode
    inside running text, is an error naming it.
  * Quarto's author schema (`author: [{name, affiliations, email,
    corresponding}]`) is normalised to Quarto's `by-author` (name.literal,
    affiliations[].name, email, attributes.corresponding), which the typst
    templates use. For html and docx the author line gets affiliation numbers
    and a corresponding-author mark, and the affiliations, corresponding
    author, keywords and word count are written under the title (the typst
    style draws its own title page).
  * `::: {.table-note}` divs: small type in typst (refracture.typ's
    table-note), the "Table Note" paragraph style in docx, a class in html.
  * image paths without an extension get --default-image-extension (as the
    markdown reader does) also when the document arrives as pandoc JSON.
  * html only: links to the web (DOIs in the reference list, URLs) become
    their text, so the self-contained page refers to nothing outside itself.

The embedded engine runs this filter after crossref.lua and --citeproc.
]]

local stringify = pandoc.utils.stringify
local ptype = pandoc.utils.type

local function fail(message)
  error('refracture: ' .. message, 0)
end

local function is_format(name)
  return FORMAT == name or FORMAT:match('^' .. name) ~= nil
end

-- ---------------------------------------------------------------- shortcodes

local PAGEBREAK = {
  typst = { 'typst', '#pagebreak()' },
  docx = { 'openxml', '<w:p><w:r><w:br w:type="page"/></w:r></w:p>' },
  html = { 'html', '<div style="page-break-after: always;"></div>' },
  latex = { 'latex', '\\newpage{}' },
}

local function pagebreak()
  for name, raw in pairs(PAGEBREAK) do
    if is_format(name) then return pandoc.RawBlock(raw[1], raw[2]) end
  end
  return pandoc.Blocks{}
end

local HINT = ' (only {{< pagebreak >}}, alone in a paragraph, is supported)'

-- Shortcodes are rare, so the filter counts the Str elements holding "{{<"
-- first (pandoc visits inline elements before blocks) and looks closer only
-- when there are any.
local seen, consumed = 0, 0

local function count_shortcodes(str)
  local _, n = str.text:gsub('{{<', '')
  seen = seen + n
end

-- A paragraph holding only {{< pagebreak >}} becomes a page break; any other
-- shortcode alone in a paragraph or heading is an error naming it (shortcodes
-- elsewhere are caught by front_matter).
local function block_shortcode(block)
  if seen == consumed then return nil end
  local content = block.content
  local first = content[1]
  if #content > 15 or not first or first.t ~= 'Str' or not first.text:find('^{{<') then return nil end
  local text = stringify(content)
  local name, args = text:match('^%s*{{<%s*([^%s>]+)(.-)>}}%s*$')
  if not name then return nil end
  if block.t ~= 'Header' and name == 'pagebreak' and args:match('^%s*$') then
    consumed = consumed + 1
    return pagebreak()
  end
  fail('unsupported shortcode ' .. text:match('{{<.->}}') .. HINT)
end

-- The first shortcode left in running text, with as much of it as can be found.
local function leftover_shortcode(doc)
  local found
  doc:walk{
    Inlines = function(inlines)
      if found then return nil end
      for i, e in ipairs(inlines) do
        if e.t == 'Str' and e.text:find('{{<', 1, true) then
          local parts = {}
          for j = i, math.min(#inlines, i + 40) do
            local x = inlines[j]
            local t = x.t == 'Str' and x.text or ' '
            parts[#parts + 1] = t
            if t:find('>}}', 1, true) then break end
          end
          local code = table.concat(parts)
          found = code:match('{{<.->}}') or code:match('{{<.*')
          return nil
        end
      end
    end,
  }
  return found or '{{<'
end

-- ------------------------------------------------------------- front matter

local function inlines_of(v)
  local t = ptype(v)
  if t == 'Inlines' then return v end
  if t == 'Blocks' then return pandoc.utils.blocks_to_inlines(v) end
  if t == 'string' or t == 'number' then return pandoc.Inlines(tostring(v)) end
  if t == 'table' and v.literal then return inlines_of(v.literal) end
  if t == 'table' and (v.given or v.family) then
    local out = pandoc.Inlines{}
    if v.given then out:extend(inlines_of(v.given)) end
    if v.given and v.family then out:insert(pandoc.Space()) end
    if v.family then out:extend(inlines_of(v.family)) end
    return out
  end
  return pandoc.Inlines{}
end

local function list_of(v)
  if v == nil then return pandoc.List{} end
  if ptype(v) == 'List' then return v end
  return pandoc.List{ v }
end

local function truthy(v)
  if v == nil then return false end
  if type(v) == 'boolean' then return v end
  local s = stringify(v):lower()
  return s == 'true' or s == 'yes'
end

-- Quarto's `by-author` from `author` (strings or maps) and top-level
-- `affiliations` (maps with id, referenced by `ref`).
local function normalise_authors(meta)
  if meta['by-author'] ~= nil or meta.author == nil then return end
  local by_id = {}
  for _, aff in ipairs(list_of(meta.affiliations)) do
    if ptype(aff) == 'table' and aff.id then by_id[stringify(aff.id)] = aff end
  end
  local function affiliation(v)
    if ptype(v) == 'table' then
      if v.ref and by_id[stringify(v.ref)] then v = by_id[stringify(v.ref)] end
      return { name = inlines_of(v.name or v) }
    end
    return { name = inlines_of(v) }
  end
  local authors = pandoc.List{}
  for _, a in ipairs(list_of(meta.author)) do
    local entry = { attributes = { corresponding = false }, affiliations = pandoc.List{} }
    if ptype(a) == 'table' then
      entry.name = { literal = inlines_of(a.name or a) }
      for _, f in ipairs(list_of(a.affiliations or a.affiliation)) do
        entry.affiliations:insert(affiliation(f))
      end
      if a.email then entry.email = inlines_of(a.email) end
      local attrs = a.attributes
      entry.attributes.corresponding = truthy(a.corresponding) or
        (ptype(attrs) == 'table' and truthy(attrs.corresponding))
    else
      entry.name = { literal = inlines_of(a) }
    end
    authors:insert(entry)
  end
  meta['by-author'] = authors
end

-- html/docx: "Ada Example¹,*, Ben Sample²" as the author line, and the rest of
-- the title page as a div under the title.
local function title_page(meta, style)
  local authors = list_of(meta['by-author'])
  local affs, numbers = pandoc.List{}, {}
  for _, a in ipairs(authors) do
    for _, f in ipairs(list_of(a.affiliations)) do
      local key = stringify(f.name)
      if not numbers[key] then
        affs:insert(f.name)
        numbers[key] = #affs
      end
    end
  end
  local numbered = #affs > 1

  local line, plain_names, corresponding = pandoc.Inlines{}, pandoc.List{}, pandoc.List{}
  for i, a in ipairs(authors) do
    if i > 1 then line:extend{ pandoc.Str(','), pandoc.Space() } end
    line:extend(inlines_of(a.name))
    plain_names:insert(stringify(inlines_of(a.name)))
    local marks = pandoc.List{}
    if numbered then
      for _, f in ipairs(list_of(a.affiliations)) do marks:insert(tostring(numbers[stringify(f.name)])) end
    end
    local is_corresponding = ptype(a.attributes) == 'table' and truthy(a.attributes.corresponding)
    if is_corresponding then
      marks:insert('*')
      corresponding:insert(a)
    end
    if #marks > 0 then line:insert(pandoc.Superscript{ pandoc.Str(table.concat(marks, ',')) }) end
  end
  if #authors > 0 then
    meta.author = pandoc.MetaList{ pandoc.MetaInlines(line) }
    meta['author-meta'] = pandoc.MetaList(plain_names:map(pandoc.MetaString))
  end

  local blocks = pandoc.Blocks{}
  for i, f in ipairs(affs) do
    local inl = pandoc.Inlines{}
    if numbered then inl:extend{ pandoc.Superscript{ pandoc.Str(tostring(i)) }, pandoc.Space() } end
    inl:extend(f)
    blocks:insert(pandoc.Para(inl))
  end
  for _, a in ipairs(corresponding) do
    local inl = pandoc.Inlines{ pandoc.Superscript{ pandoc.Str('*') }, pandoc.Str('Corresponding'), pandoc.Space(),
      pandoc.Str('author:'), pandoc.Space() }
    inl:extend(inlines_of(a.name))
    if a.email then
      inl:extend{ pandoc.Str(','), pandoc.Space() }
      local email = stringify(a.email)
      inl:insert(pandoc.Link(inlines_of(a.email), 'mailto:' .. email))
    end
    blocks:insert(pandoc.Para(inl))
  end
  local function field(label, value)
    local inl = pandoc.Inlines{ pandoc.Strong{ pandoc.Str(label .. ':') }, pandoc.Space() }
    inl:extend(value)
    blocks:insert(pandoc.Para(inl))
  end
  local keywords = list_of(meta.keywords)
  if #keywords > 0 then
    local inl = pandoc.Inlines{}
    for i, k in ipairs(keywords) do
      if i > 1 then inl:extend{ pandoc.Str(','), pandoc.Space() } end
      inl:extend(inlines_of(k))
    end
    field('Keywords', inl)
  end
  if meta.wordcount then field('Word count', inlines_of(meta.wordcount)) end
  if #blocks == 0 then return pandoc.Blocks{} end
  local attrs = is_format('docx') and { ['custom-style'] = 'Title Meta' } or {}
  local out = pandoc.Blocks{ pandoc.Div(blocks, pandoc.Attr('', { 'title-meta' }, attrs)) }
  if style == 'submission' and is_format('docx') then out:insert(pagebreak()) end
  return out
end

-- ---------------------------------------------------------------- table notes

local function table_note(div)
  if not div.classes:includes('table-note') then return nil end
  if is_format('typst') then
    local out = pandoc.Blocks{ pandoc.RawBlock('typst', '#table-note[') }
    out:extend(div.content)
    out:insert(pandoc.RawBlock('typst', ']'))
    return out
  end
  if is_format('docx') then
    div.attributes['custom-style'] = 'Table Note'
    return div
  end
  return nil
end

local function front_matter(doc)
  if seen > consumed then fail('unsupported shortcode ' .. leftover_shortcode(doc) .. HINT) end
  local style = doc.meta['refracture-style'] and stringify(doc.meta['refracture-style']) or 'submission'
  if style ~= 'submission' and style ~= 'article' then
    fail('unknown refracture-style "' .. style .. '" (submission or article)')
  end
  normalise_authors(doc.meta)
  if not is_format('typst') then
    local front = title_page(doc.meta, style)
    for i = #front, 1, -1 do doc.blocks:insert(1, front[i]) end
  end
  return doc
end

-- ------------------------------------------------------------------ figures

-- `../figures/roc` -> `../figures/roc.svg`: what --default-image-extension
-- does in the markdown reader, for documents that reach this filter as JSON
-- (the embedded engine's render_all).
local image_extension = PANDOC_READER_OPTIONS and PANDOC_READER_OPTIONS.default_image_extension or ''

local function image_with_extension(image)
  local src = image.src
  if image_extension == '' or src:match('^%a[%w+.-]*:') then return nil end
  local name = src:match('([^/]*)$')
  if name == '' or name:find('.', 1, true) then return nil end
  image.src = src .. '.' .. image_extension:gsub('^%.', '')
  return image
end

-- ------------------------------------------------------------ offline html

local function offline_link(link)
  local target = link.target:lower()
  if target:match('^https?:') or target:match('^ftp:') or target:match('^//') then
    return link.content
  end
end

-- One pass: pandoc calls Str (inline elements) before Para, Plain, Header and
-- Div (block elements), and Pandoc last. Top-level filter functions rather
-- than Lua-side walks: pandoc only hands the matching elements to Lua.
return {
  {
    Str = count_shortcodes,
    Link = is_format('html') and offline_link or nil,
    Image = image_with_extension,
    Para = block_shortcode,
    Header = block_shortcode,
    Div = table_note,
    Pandoc = front_matter,
  },
}
