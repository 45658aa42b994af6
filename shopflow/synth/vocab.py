"""Word lists of the synthetic shop: the category tree, brands, and text vocabularies.

Titles, descriptions, search queries and review texts are built from per-category words,
so text models (TF-IDF, spam classifiers) have real signal to learn from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Leaf:
    root: str
    mid: str
    name: str
    median_usd: float
    nouns: tuple[str, ...]
    features: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"{self.root} > {self.mid} > {self.name}"


def _leaf(root: str, mid: str, name: str, median: float, nouns: str, features: str) -> Leaf:
    return Leaf(root, mid, name, median, tuple(nouns.split(",")), tuple(features.split(",")))


# Ordered so that the first eight leaves cover the eight roots (small catalogs stay diverse).
LEAVES: tuple[Leaf, ...] = (
    _leaf(
        "Electronics",
        "Audio",
        "Headphones",
        89,
        "headphones,earbuds,headset",
        "wireless,noise-cancelling,bluetooth,over-ear,bass,battery,foldable,microphone",
    ),
    _leaf(
        "Home & Kitchen",
        "Kitchen",
        "Coffee Makers",
        79,
        "coffee maker,espresso machine,grinder",
        "programmable,stainless,carafe,brew,thermal,barista,milk frother,descaling",
    ),
    _leaf(
        "Fashion",
        "Shoes",
        "Sneakers",
        75,
        "sneakers,trainers,running shoes",
        "breathable,cushioned,leather,lightweight,mesh,retro,low-top,grip",
    ),
    _leaf(
        "Sports & Outdoors",
        "Camping",
        "Tents",
        149,
        "tent,shelter,camping tent",
        "waterproof,2-person,backpacking,ultralight,poles,rainfly,vestibule,footprint",
    ),
    _leaf(
        "Beauty",
        "Skincare",
        "Moisturizers",
        28,
        "moisturizer,face cream,serum",
        "hydrating,hyaluronic,spf,fragrance-free,vitamin c,retinol,sensitive skin,night",
    ),
    _leaf(
        "Books",
        "Fiction",
        "Mystery Novels",
        14,
        "mystery novel,thriller,detective story",
        "paperback,hardcover,bestseller,twist,detective,suspense,series,murder",
    ),
    _leaf(
        "Toys & Games",
        "Games",
        "Board Games",
        35,
        "board game,strategy game,party game",
        "family,cooperative,dice,cards,2-6 players,expansion,tabletop,strategy",
    ),
    _leaf(
        "Grocery",
        "Beverages",
        "Coffee Beans",
        16,
        "coffee beans,whole bean coffee,ground coffee",
        "arabica,single origin,dark roast,medium roast,organic,fair trade,espresso,decaf",
    ),
    _leaf(
        "Electronics",
        "Computers",
        "Laptops",
        899,
        "laptop,notebook,ultrabook",
        "ssd,ram,retina,backlit keyboard,thin,gaming,touchscreen,processor",
    ),
    _leaf(
        "Electronics",
        "Phones",
        "Smartphones",
        599,
        "smartphone,phone,android phone",
        "5g,oled,camera,unlocked,dual sim,fast charging,128gb,battery",
    ),
    _leaf(
        "Electronics",
        "Cameras",
        "Action Cameras",
        249,
        "action camera,camera,4k camera",
        "4k,stabilization,waterproof,wide angle,mount,hdr,slow motion,wifi",
    ),
    _leaf(
        "Electronics",
        "Audio",
        "Speakers",
        119,
        "speaker,soundbar,smart speaker",
        "portable,bluetooth,waterproof,stereo,bass,voice assistant,party,battery",
    ),
    _leaf(
        "Home & Kitchen",
        "Kitchen",
        "Cookware",
        65,
        "frying pan,saucepan,cookware set",
        "non-stick,cast iron,induction,oven-safe,ceramic,stainless,dishwasher-safe,lid",
    ),
    _leaf(
        "Home & Kitchen",
        "Bedroom",
        "Bedding",
        59,
        "duvet cover,sheet set,pillow",
        "cotton,linen,king size,queen size,breathable,hypoallergenic,soft,thread count",
    ),
    _leaf(
        "Home & Kitchen",
        "Decor",
        "Lamps",
        45,
        "lamp,floor lamp,desk lamp",
        "led,dimmable,brass,minimalist,warm light,adjustable,usb,shade",
    ),
    _leaf(
        "Fashion",
        "Clothing",
        "Jackets",
        110,
        "jacket,parka,windbreaker",
        "waterproof,insulated,hooded,down,packable,fleece,zip,windproof",
    ),
    _leaf(
        "Fashion",
        "Clothing",
        "Dresses",
        55,
        "dress,maxi dress,summer dress",
        "floral,linen,midi,wrap,sleeveless,cotton,casual,evening",
    ),
    _leaf(
        "Fashion",
        "Accessories",
        "Watches",
        160,
        "watch,chronograph,smartwatch",
        "analog,leather strap,sapphire,water resistant,automatic,steel,dial,quartz",
    ),
    _leaf(
        "Sports & Outdoors",
        "Fitness",
        "Yoga",
        30,
        "yoga mat,yoga block,yoga strap",
        "non-slip,thick,eco-friendly,cork,cushioned,travel,alignment,grip",
    ),
    _leaf(
        "Sports & Outdoors",
        "Cycling",
        "Bike Accessories",
        40,
        "bike light,bike lock,helmet",
        "rechargeable,usb,reflective,lightweight,u-lock,visibility,mips,mount",
    ),
    _leaf(
        "Sports & Outdoors",
        "Running",
        "Running Gear",
        35,
        "running shorts,running vest,socks",
        "moisture-wicking,reflective,compression,lightweight,pocket,seamless,marathon,trail",
    ),
    _leaf(
        "Beauty",
        "Fragrance",
        "Perfume",
        70,
        "perfume,eau de parfum,cologne",
        "floral,woody,citrus,long-lasting,vanilla,musk,fresh,oriental",
    ),
    _leaf(
        "Beauty",
        "Makeup",
        "Lipstick",
        18,
        "lipstick,lip gloss,lip liner",
        "matte,long-wear,nude,red,hydrating,vegan,satin,shade",
    ),
    _leaf(
        "Beauty",
        "Hair",
        "Hair Care",
        22,
        "shampoo,conditioner,hair oil",
        "sulfate-free,argan,curl,repair,volume,keratin,dry hair,scalp",
    ),
    _leaf(
        "Books",
        "Food",
        "Cookbooks",
        25,
        "cookbook,recipe book,baking book",
        "recipes,vegetarian,baking,italian,quick meals,photography,chef,healthy",
    ),
    _leaf(
        "Books",
        "Science",
        "Popular Science",
        18,
        "science book,history of science,essay",
        "physics,biology,universe,evolution,brain,climate,illustrated,history",
    ),
    _leaf(
        "Books",
        "Children",
        "Picture Books",
        12,
        "picture book,bedtime story,board book",
        "illustrated,bedtime,animals,rhymes,toddler,colorful,friendship,classic",
    ),
    _leaf(
        "Toys & Games",
        "Building",
        "Building Sets",
        49,
        "building set,brick set,construction kit",
        "bricks,minifigures,stem,spaceship,castle,creative,pieces,model",
    ),
    _leaf(
        "Toys & Games",
        "Puzzles",
        "Jigsaw Puzzles",
        20,
        "jigsaw puzzle,puzzle,3d puzzle",
        "1000 pieces,landscape,art,challenging,family,panorama,wooden,500 pieces",
    ),
    _leaf(
        "Grocery",
        "Beverages",
        "Tea",
        12,
        "green tea,black tea,herbal tea",
        "loose leaf,organic,matcha,earl grey,chamomile,sencha,tea bags,caffeine-free",
    ),
    _leaf(
        "Grocery",
        "Pantry",
        "Olive Oil",
        19,
        "olive oil,extra virgin olive oil,oil",
        "cold-pressed,extra virgin,italian,greek,organic,fruity,peppery,harvest",
    ),
    _leaf(
        "Grocery",
        "Snacks",
        "Chocolate",
        9,
        "chocolate bar,dark chocolate,truffles",
        "70% cocoa,milk chocolate,hazelnut,sea salt,vegan,gift box,single origin,praline",
    ),
)

ROOTS: tuple[str, ...] = tuple(dict.fromkeys(leaf.root for leaf in LEAVES))

# Six brands per root: two per price tier (budget, mid, premium).
BRANDS: dict[str, tuple[str, ...]] = {
    "Electronics": ("Voltix", "Bytewave", "Sonora", "Kestrel", "Aurion", "Lumenar"),
    "Home & Kitchen": ("Casa Nova", "Hearthly", "Brewmont", "Linenfold", "Copperleaf", "Maison Or"),
    "Fashion": ("Strideline", "Urbanthread", "Northpeak", "Velora", "Atelier Noir", "Castellane"),
    "Sports & Outdoors": ("Trailfox", "Peakform", "Ridgeline", "Summitry", "Altura", "Glacier Pro"),
    "Beauty": ("Purebloom", "Glowkin", "Dermalia", "Velvetine", "Orchidee", "Maison Lys"),
    "Books": (
        "Paperlane",
        "Inkwell Press",
        "Northgate Books",
        "Lantern House",
        "Meridian",
        "Folio Royal",
    ),
    "Toys & Games": (
        "Playnest",
        "Brickwise",
        "Gamecraft",
        "Tinker & Co",
        "Meeple House",
        "Heirloom Toys",
    ),
    "Grocery": (
        "Daily Harvest",
        "Pantry Basics",
        "Terra Verde",
        "Roastery 9",
        "Oliveto",
        "Maison Cacao",
    ),
}
TIER_PRICE_FACTOR: tuple[float, ...] = (0.6, 1.0, 1.8)
MODEL_SUFFIXES: tuple[str, ...] = ("", "", "Pro", "Lite", "Max", "Plus", "Mini", "2", "3", "X", "S")

DESCRIPTION_OPENERS: tuple[str, ...] = (
    "Designed for everyday use,",
    "Built to last,",
    "A best-seller,",
    "Loved by customers,",
    "New for this season,",
    "Thoughtfully made,",
)
DESCRIPTION_CLOSERS: tuple[str, ...] = (
    "Backed by a two-year warranty.",
    "Ships in recyclable packaging.",
    "A great gift idea.",
    "Free returns within 30 days.",
    "Carefully tested for quality.",
    "",
)
SEARCH_MODIFIERS: tuple[str, ...] = ("best", "cheap", "top rated", "sale", "new", "gift")

COUNTRIES: tuple[tuple[str, float], ...] = (
    ("US", 0.38),
    ("GB", 0.12),
    ("DE", 0.1),
    ("FR", 0.08),
    ("BR", 0.07),
    ("CA", 0.06),
    ("AU", 0.04),
    ("ES", 0.04),
    ("IT", 0.04),
    ("NL", 0.03),
    ("SE", 0.02),
    ("JP", 0.02),
)

# ---- reviews ------------------------------------------------------------------------------
REVIEW_TITLES: dict[str, tuple[str, ...]] = {
    "pos": (
        "Love this {noun}",
        "Excellent {noun}",
        "Great value",
        "Exactly as described",
        "Highly recommend",
        "Very happy with it",
        "Best {noun} I have owned",
    ),
    "mid": (
        "Decent {noun}",
        "Okay for the price",
        "Mixed feelings",
        "Does the job",
        "Good but not great",
    ),
    "neg": (
        "Disappointed",
        "Not worth it",
        "Poor quality {noun}",
        "Returned it",
        "Would not buy again",
        "Broke after a week",
    ),
}
REVIEW_SENTENCES: dict[str, tuple[str, ...]] = {
    "pos": (
        "The {noun} is {feature} and works really well.",
        "I use it every day and the {feature} is a big plus.",
        "Arrived quickly and well packaged.",
        "Quality feels solid for the price.",
        "My family loves this {noun}.",
        "The {feature} exceeded my expectations.",
    ),
    "mid": (
        "The {noun} is fine, although the {feature} could be better.",
        "Shipping took longer than expected.",
        "It works, but I expected more for the price.",
        "Average {noun}, nothing special about the {feature}.",
    ),
    "neg": (
        "The {feature} stopped working after a few days.",
        "Cheap materials and the {noun} feels flimsy.",
        "Customer service did not help with my {noun}.",
        "Not as described, the {feature} is missing.",
        "Arrived damaged and I had to return it.",
    ),
}
# Spam: promotional lines shared across accounts, links, shouting, off-topic praise.
SPAM_PROMOS: tuple[str, ...] = (
    "Get 80% off designer brands at our outlet",
    "Earn $500 a day working from home",
    "Cheap followers and likes delivered instantly",
    "Use code SAVE80 for free gifts today",
    "Best replica watches and bags for sale",
    "Crypto trading bot doubles your money",
    "Lose 10 kg in one week with this secret",
    "Claim your free gift card now",
    "Unlock premium accounts for free",
    "Top casino bonus for new players",
)
SPAM_LINKS: tuple[str, ...] = (
    "www.deals4u-outlet.biz",
    "http://bit.ly/fr33-g1ft",
    "https://cheap-brands.top/sale",
    "www.earn-fast.click",
    "http://crypto-x2.io/join",
    "www.freegiftcards.win",
)
SPAM_FILLERS: tuple[str, ...] = (
    "Amazing product!!! Five stars!!!",
    "Best seller best price",
    "Very good very nice",
    "Check my profile for more deals",
    "Contact me for wholesale prices",
    "Great great great",
    "Visit our store for more",
    "Limited offer only today",
)
