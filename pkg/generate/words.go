package generate

// The vocabulary of the synthetic catalogue. The first entries of several
// lists are the real export's own words (see the atelier-sample fixture), so
// that generated rows read like real ones; the rest are in the same spirit.
// These are read-only tables, never written after initialisation.

// kind decides which categories, names and sizes a product gets, so that a
// pair of "Kicks" comes in shoe sizes and sunglasses in "One Size".
type kind uint8

const (
	apparel kind = iota
	shoes
	oneSize
	numKinds
)

var categories = [numKinds][]string{
	apparel: {"Jackets", "Pants", "Shirts", "Shorts", "Sweaters", "Dresses", "Skirts", "Hoodies",
		"Tops", "Jeans", "Sweatpants", "Coats", "Blazers", "Tank Tops", "Onesies"},
	shoes:   {"Kicks", "Dress Shoes", "Boots", "Sandals", "Heels", "Slippers", "Running Shoes", "Loafers"},
	oneSize: {"Accessories", "Hats", "Bags", "Sunglasses", "Belts", "Scarves", "Watches", "Backpacks"},
}

var nouns = [numKinds][]string{
	apparel: {"Onesie", "Joggers", "Slacks", "Jacket", "Parka", "Hoodie", "Tee", "Shirt", "Blazer",
		"Trousers", "Shorts", "Cardigan", "Sweater", "Dress", "Skirt", "Jeans", "Overalls", "Vest",
		"Windbreaker", "Chinos", "Polo", "Henley", "Tank", "Bomber", "Romper"},
	shoes: {"Kicks", "Sneakers", "Shoes", "Boots", "Runners", "Loafers", "Sandals", "Trainers",
		"High Tops", "Slip-Ons", "Oxfords", "Chelseas", "Mules", "Clogs"},
	oneSize: {"Sunglasses", "Shades", "Cap", "Beanie", "Tote", "Backpack", "Belt", "Scarf", "Watch",
		"Wallet", "Gloves", "Bucket Hat", "Duffel", "Bandana"},
}

var sizes = [numKinds][]string{
	apparel: {"XS", "S", "M", "L", "XL", "XXL"},
	shoes:   {"7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "11.5", "12"},
	oneSize: {"One Size"},
}

var adjectives = []string{
	"Camo", "Bright Future", "Morning", "Slacker's", "Heir Force", "Pumped Up", "Blues Suede",
	"Summer", "Midnight", "Urban", "Retro", "Vintage", "Classic", "Alpine", "Coastal", "Desert",
	"Electric", "Golden", "Silver", "Velvet", "Rugged", "Cozy", "Breezy", "Sunday", "Weekend",
	"Downtown", "Uptown", "Nomad", "Voyager", "Horizon", "Trail", "Harbor", "Everyday",
	"Featherweight", "Thunder", "Lightning", "Cloud", "Stealth", "Neon", "Prairie", "Metro",
	"Arctic", "Tropic", "Canyon", "Meadow", "Ember", "Frost", "Willow", "Pioneer", "Maverick",
	"Odyssey", "Cosmic", "Lunar", "Solar", "Timber", "Granite", "Cobalt", "Saffron", "Indigo",
	"Crimson",
}

// modelSuffixes turn some names into product lines ("YEasy 350").
var modelSuffixes = []string{" 350", " 2.0", " Pro", " Lite", " Classic", " II", " 90", " Max"}

var slogans = []string{
	"Blend in to your crowd", "You've got to wear shades", "Make yourself a morning person",
	"Comfortable for everything, or nothing", "A sneaker dynasty", "Faster than a just about anything",
	"Just jumped over jumpman", "A risky call in the spring or fall", "2019 Stanley Cup Limited Edition",
	"Built for the long way home", "Dress up, dress down, dress anyway",
	"Made for mornings that turn into nights", "Your new favorite, again", "Style that goes the distance",
	"Lighter than your last excuse", "Weather the weather", "Every day is casual Friday",
	"Fits like it was made for you", "The last one you'll need", "Comfort you can see",
	"Go further in style", "Turn the sidewalk into a runway", "Simple, honest, built to last",
	"Because plain is never plain", "For the ones who notice", "Keep it cool, keep it close",
	"Walk it like you mean it", "Soft on you, hard to forget", "Ready when you are",
	"Bold without the noise", "Stand out by standing still", "Take the scenic route",
	"Wear it out, wear it in", "Sunshine not included", "Now with 20% more swagger",
	"Good things come in layers",
}

// sentences make up descriptions. Two contain double quotes, which the
// writer escapes as "" (RFC 4180), so a loader meets escaped quotes too.
var sentences = []string{
	"The So Fatigues will wake you up and fit you in.",
	"This high energy camo will have you blending in to even the wildest surroundings.",
	"Where you're going you might not need roads, but you definitely need some shades.",
	"Whether you're a morning person or not.  Whether you're gym bound or not.",
	"Everyone looks good in joggers.",
	"I'll tell you how great they are after I nap for a bit.",
	"Touch down in the land of the Delta Blues in the middle of the pouring rain.",
	"These stretchy knit shoes show off asymmetrical lacing and a big sculpted rubber midsole.",
	"Tonal lace-up closure, padded collar and a pull-loop at the heel.",
	"Cut from a soft, breathable weave that keeps its shape wash after wash.",
	"A relaxed fit that moves with you, from the first coffee to the last train.",
	"Reinforced seams where it matters, and nowhere they would rub.",
	"Pair it with anything; it has never met an outfit it didn't like.",
	"Lightweight enough to pack, tough enough to live in.",
	"The colors are dyed deep so they stay bright season after season.",
	"Designed in the city, tested on the trail, approved by the dog.",
	"Our \"Heritage\" cut never goes out of style.",
	"Made with recycled fibers and a little bit of stubbornness.",
	"It keeps you warm when it's cold and cool when it's not.",
	"Soft on the inside, sharp on the outside.",
	"A classic silhouette with a modern twist you'll notice only up close.",
	"Water-resistant finish for the days the forecast gets it wrong.",
	"Hand-finished details give every piece its own character.",
	"The one your friends will ask about, and you won't tell.",
	"Wear it to the office, the gym or the \"quick\" trip to the store.",
	"Stitched to last longer than the trend that inspired it.",
	"Breathable panels keep things fresh on long days.",
	"Goes from the beach to the bar without missing a beat.",
}

// feature pairs a feature with its usual values, as in the real
// features.csv ("Fabric","Canvas").
type feature struct {
	name   string
	values []string
}

var (
	fabric    = feature{"Fabric", []string{"Canvas", "100% Cotton", "99% Cotton 1% Elastic", "Denim", "Linen", "Fleece", "Wool Blend", "Corduroy"}}
	buttons   = feature{"Buttons", []string{"Brass", "Wood", "Plastic", "Silver", "Horn"}}
	lenses    = feature{"Lenses", []string{"Ultrasheen", "Polarized", "Mirrored", "Gradient"}}
	frames    = feature{"Frames", []string{"LightCompose", "DuraResin", "Titanium", "Acetate"}}
	cut       = feature{"Cut", []string{"Skinny", "Loose", "Straight", "Relaxed", "Slim", "Tapered"}}
	sole      = feature{"Sole", []string{"Rubber", "FullControlSkin", "Cork", "Foam"}}
	material  = feature{"Material", []string{"FullControlSkin", "Leather", "Suede", "Mesh", "Nylon"}}
	midSole   = feature{"Mid-Sole", []string{"ControlSupport Arch Bridge", "Gel", "Air Cushion"}}
	stitching = feature{"Stitching", []string{"Double Stitch", "Cross Stitch", "Chain Stitch"}}
	closure   = feature{"Closure", []string{"Zipper", "Buttons", "Velcro", "Laces", "Snap"}}
	lining    = feature{"Lining", []string{"Satin", "Sherpa", "Cotton", "None"}}
	fit       = feature{"Fit", []string{"True to Size", "Runs Small", "Runs Large"}}
)

// featuresByKind keeps lenses on sunglasses and soles on shoes. Each list
// is at least as long as the most features a product gets, so a product's
// features can all differ.
var featuresByKind = [numKinds][]feature{
	apparel: {fabric, buttons, cut, stitching, closure, lining, fit},
	shoes:   {sole, material, midSole, stitching, closure, lining, fit},
	oneSize: {fabric, lenses, frames, material, stitching, closure},
}

// flagFeatures are the yes/no features the real export lists with a null
// value ("UV Protection",null); a null value is written with one of these.
var flagFeatures = []string{"UV Protection", "Non-GMO", "Green Leaf Certified", "Satisfaction Guaranteed", "Sustainably Sourced"}

var colors = []string{
	"Forest Green", "Black", "Desert Brown", "Tan", "Ocean Blue", "Grey", "Digital Red", "Sky Blue",
	"White", "Dark Grey", "Navy", "Olive", "Maroon", "Cream", "Charcoal", "Khaki", "Burgundy",
	"Mustard", "Coral", "Teal", "Ivory", "Sand", "Slate", "Rose", "Mint", "Plum", "Rust", "Sage",
	"Lavender", "Camel",
}

// photoWidths are the w= values of the real full-size photo URLs; 668 is by
// far the most common, so it is listed several times.
var photoWidths = []string{"668", "668", "668", "668", "668", "668", "1000", "1650", "2734", "2775", "634", "750", "975", "1350"}
