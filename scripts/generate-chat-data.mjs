// Generates data/chat.txt, the default fine-tuning set, data/eval.txt, its held-out test set,
// and data/eval-copy.txt, held-out values asked in chat.txt's own phrasings (see the end of
// this file). chat.txt: thousands of short Human/Bot conversations (2-6 exchanges, blank line
// between conversations) with a friendly bot ("Pip") that answers briefly. Facts the user states (name, pets, favourites, ...) are often asked
// about again a few turns later, and follow-ups refer to the previous answer ("and half of
// that?"), so the model learns to read its context instead of a fixed script. Arithmetic,
// conversions and spellings are computed here, so every answer is correct.
// Deterministic: a fixed seed and no other source of randomness.
//   node scripts/generate-chat-data.mjs [--out data/chat.txt] [--count 12000] [--seed 1234]
//                                       [--eval-out data/eval.txt] [--eval-count 40]
//                                       [--eval-copy-out data/eval-copy.txt] [--eval-copy-count 40]
//                                       [--copy-train-out data/chat-copy.txt] [--copy-train-count 12000]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = arg('out', join(root, 'data/chat.txt'));
const COUNT = Number(arg('count', 12000));
const EVAL_OUT = arg('eval-out', join(root, 'data/eval.txt'));
const EVAL_COUNT = Number(arg('eval-count', 40));
const EVAL_COPY_OUT = arg('eval-copy-out', join(root, 'data/eval-copy.txt'));
const EVAL_COPY_COUNT = Number(arg('eval-copy-count', 40));
const COPY_TRAIN_OUT = arg('copy-train-out', join(root, 'data/chat-copy.txt'));
const COPY_TRAIN_COUNT = Number(arg('copy-train-count', 12000));
let state = Number(arg('seed', 1234)) >>> 0;
const EVAL_SEED = (state + 0x9e3779b9) >>> 0;
const EVAL_COPY_SEED = (EVAL_SEED + 0x9e3779b9) >>> 0;

// mulberry32
function rand() {
  let t = (state = (state + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rand() * n);
const range = (lo, hi) => lo + int(hi - lo + 1); // inclusive
const pick = (a) => a[int(a.length)];
const chance = (p) => rand() < p;
const cap = (s) => s[0].toUpperCase() + s.slice(1);
// "an" goes before a vowel sound, not a vowel letter: of the words an() is given (the pools of pets,
// jobs, instruments, nouns, animals, babies, shapes and months) only these start with a vowel
// letter said as a consonant; none has a silent h (an hour), so the reverse needs no list
const SAYS_CONSONANT_FIRST = new Set(['ukulele']);
const an = (w) => (/^[aeiou]/i.test(w) && !SAYS_CONSONANT_FIRST.has(w.toLowerCase()) ? `an ${w}` : `a ${w}`);
const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];
const num = (n) => (n <= 12 && chance(0.5) ? WORDS[n] : String(n)); // "three" or "3"
const list = (xs) => (xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

// ---------------------------------------------------------------- vocabulary
// The pools the user's facts draw from are split: every 4th value is held out (HELD_*) and
// never used here, so data/eval.txt can ask about values the model has not seen (see the end).
const holdOut = (pool) => [pool.filter((_, i) => i % 4 !== 3), pool.filter((_, i) => i % 4 === 3)];
const [NAMES, HELD_NAMES] = holdOut(`Priya Marco Aisha Liam Sofia Kenji Amara Noah Elena Mateo Zara Oliver Fatima Lucas Mei Ethan Nadia Diego Hana Samuel
Chloe Ravi Ingrid Tomas Leila Arjun Freya Kwame Yuki Daniel Ana Omar Clara Felix Maya Hugo Imani Jonas Rosa Ali
Emma Kofi Lina Pablo Sana Victor Isla Mohammed Grace Sven Amelia Tariq Nora Luca Esther Raj Ivy Mateus Julia Chen
Olga Kai Beatriz Finn Zainab Leo Harper Dmitri Naomi Felipe Anya Jamal Greta Hiro Lucia Ben Ayesha Theo Carmen Eli
Sakura Arthur Nia Oscar Mira Jorge Hannah Rohan Elise Malik Vera Adam Selin Nikolai Aaliyah Jack Paula Ibrahim Lena Sam
Chiara Kemal Ruth Andre Yara Toby Soren Jasmine Marek Ada Emeka Lola Niels Farah Gabriel Alice Rafael Keiko Idris Mina
Patrick Bianca Yusuf Heidi Connor Rania Milo Tanvi Erik Joy Sipho Laura Anton Wen Camille Bruno Dalia Owen Pooja Kasper`.split(/\s+/));
const [CITIES, HELD_CITIES] = holdOut(`Lisbon Oslo Nairobi Toronto Lima Osaka Cairo Dublin Seoul Denver Porto Bristol Austin Mumbai Kyoto Vienna Prague
Melbourne Accra Bergen Seattle Madrid Chicago Glasgow Hanoi Quito Lagos Hamburg Krakow Boston Auckland Valencia Montreal
Istanbul Manila Bogota Athens Helsinki Dakar Perth Phoenix Edinburgh Munich Cork Santiago Milan Leeds Zurich Jaipur Tucson`.split(/\s+/));
const [PET_NAMES, HELD_PET_NAMES] = holdOut(`Biscuit Luna Max Pepper Milo Coco Bella Oreo Ziggy Maple Nala Rocky Peanut Mochi Olive Simba Daisy Toffee Bean Pickles
Juniper Clover Ginger Shadow Pumpkin Waffles Noodle Pixel Sunny Bramble`.split(/\s+/));
const [PETS, HELD_PETS] = holdOut([
  ['cat', 'cats'], ['dog', 'dogs'], ['rabbit', 'rabbits'], ['hamster', 'hamsters'], ['parrot', 'parrots'],
  ['goldfish', 'goldfish'], ['turtle', 'turtles'], ['guinea pig', 'guinea pigs'], ['chicken', 'chickens'],
  ['lizard', 'lizards'], ['budgie', 'budgies'], ['horse', 'horses'],
]);
const ALL_FAVOURITES = {
  colour: ['red', 'blue', 'green', 'yellow', 'orange', 'purple', 'pink', 'black', 'white', 'teal', 'turquoise', 'gold', 'silver', 'navy', 'lavender', 'maroon', 'grey', 'brown'],
  food: ['pizza', 'sushi', 'tacos', 'pasta', 'curry', 'ramen', 'pancakes', 'dumplings', 'lasagna', 'falafel', 'paella', 'burgers', 'soup', 'noodles', 'risotto', 'fried rice', 'chocolate cake', 'ice cream'],
  animal: ['elephant', 'giraffe', 'penguin', 'dolphin', 'owl', 'tiger', 'fox', 'panda', 'koala', 'octopus', 'wolf', 'hedgehog', 'sloth', 'otter', 'zebra', 'lion', 'eagle', 'whale'],
  season: ['spring', 'summer', 'autumn', 'winter'],
  sport: ['football', 'tennis', 'basketball', 'swimming', 'cricket', 'volleyball', 'cycling', 'running', 'climbing', 'rugby', 'badminton', 'skiing', 'baseball', 'table tennis'],
  fruit: ['apples', 'bananas', 'mangoes', 'strawberries', 'grapes', 'pears', 'cherries', 'peaches', 'pineapple', 'watermelon', 'kiwis', 'blueberries', 'plums', 'oranges'],
  drink: ['tea', 'coffee', 'orange juice', 'lemonade', 'hot chocolate', 'milk', 'sparkling water', 'apple juice', 'green tea', 'smoothies'],
  subject: ['maths', 'history', 'art', 'biology', 'music', 'geography', 'chemistry', 'physics', 'literature', 'languages'],
  number: ['3', '7', '9', '11', '13', '21', '4', '8', '42', '17', '5', '99', '12', '23'],
  book: ['mysteries', 'fantasy novels', 'science fiction', 'poetry', 'comics', 'biographies', 'adventure stories', 'history books'],
  music: ['jazz', 'rock', 'pop', 'classical music', 'hip hop', 'folk music', 'reggae', 'country music', 'electronic music', 'blues'],
};
const FAVOURITES = {}, HELD_FAVOURITES = {};
for (const [cat, values] of Object.entries(ALL_FAVOURITES)) [FAVOURITES[cat], HELD_FAVOURITES[cat]] = holdOut(values);
const [JOBS, HELD_JOBS] = holdOut(['teacher', 'nurse', 'software developer', 'chef', 'farmer', 'electrician', 'librarian', 'pilot', 'dentist', 'student',
  'accountant', 'firefighter', 'graphic designer', 'bus driver', 'vet', 'architect', 'baker', 'journalist', 'plumber', 'scientist',
  'engineer', 'photographer', 'gardener', 'mechanic', 'pharmacist', 'translator', 'carpenter', 'doctor', 'lawyer', 'musician']);
const HOBBIES = ['paint', 'play chess', 'go hiking', 'bake bread', 'knit', 'read comics', 'play video games', 'go fishing', 'dance',
  'take photos', 'write poems', 'grow vegetables', 'play the guitar', 'do yoga', 'go cycling', 'build model trains', 'watch old films',
  'do puzzles', 'sing in a choir', 'go swimming', 'collect stamps', 'cook new recipes', 'draw comics', 'go camping', 'skateboard'];
const [INSTRUMENTS, HELD_INSTRUMENTS] = holdOut(['piano', 'guitar', 'violin', 'drums', 'flute', 'cello', 'trumpet', 'ukulele', 'saxophone', 'harp', 'clarinet', 'bass']);
const MOODS = [
  ['happy', 'That\'s wonderful to hear! What made your day so good?'], ['tired', 'Sorry you\'re tired. Maybe an early night would help.'],
  ['sad', 'I\'m sorry you\'re feeling sad. I\'m here if you want to talk about it.'], ['excited', 'Ooh, exciting! I love that energy.'],
  ['nervous', 'Feeling nervous is normal. Take a slow breath; you\'ve got this.'], ['bored', 'Let\'s fix that! Want a joke or a quick quiz?'],
  ['stressed', 'That sounds hard. Try to take one small thing at a time.'], ['great', 'Great! I\'m glad you\'re having a good day.'],
  ['a bit lonely', 'I\'m sorry. I\'m happy to keep you company for a while.'], ['proud', 'You should be! Well done.'],
];
const [SECRET_WORDS, HELD_SECRET_WORDS] = holdOut(['pineapple', 'thunder', 'marble', 'velvet', 'rocket', 'lantern', 'cactus', 'harbor', 'pebble', 'comet', 'maple',
  'falcon', 'violet', 'biscuit', 'glacier', 'meadow', 'puzzle', 'saffron', 'willow', 'zebra', 'copper', 'orchid', 'tornado', 'walnut']);
// values only data/eval.txt uses (with the held-out parts of the pools above): chat.txt never does
const EVAL_ONLY = {
  pets: ['ferret', 'gecko', 'tortoise', 'canary', 'axolotl', 'iguana', 'chinchilla', 'tarantula', 'cockatiel', 'alpaca', 'newt'],
  words: ['quartz', 'obsidian', 'tundra', 'nebula', 'sapphire', 'basalt', 'zephyr', 'origami', 'monsoon', 'lagoon', 'citadel', 'kestrel', 'paprika', 'mosaic'],
  jobs: ['welder', 'beekeeper', 'surveyor', 'locksmith', 'glassblower', 'cartographer', 'tailor', 'zookeeper', 'potter', 'blacksmith', 'jeweller', 'lifeguard'],
  instruments: ['accordion', 'banjo', 'oboe', 'bagpipes', 'mandolin', 'sitar', 'tuba', 'xylophone', 'harmonica', 'bassoon'],
  foods: ['gnocchi', 'goulash', 'kimchi', 'borscht', 'empanadas', 'samosas', 'couscous', 'hummus', 'moussaka', 'pierogi'],
  colours: ['indigo', 'crimson', 'magenta', 'ochre', 'scarlet', 'amber', 'beige', 'cyan', 'mauve'],
  drinks: ['kombucha', 'cocoa', 'lassi', 'horchata', 'chai', 'kefir', 'espresso', 'cider'],
};
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = [['January', 31], ['February', 28], ['March', 31], ['April', 30], ['May', 31], ['June', 30], ['July', 31],
  ['August', 31], ['September', 30], ['October', 31], ['November', 30], ['December', 31]];
const CAPITALS = [['France', 'Paris'], ['Japan', 'Tokyo'], ['Italy', 'Rome'], ['Spain', 'Madrid'], ['Germany', 'Berlin'], ['Canada', 'Ottawa'],
  ['Australia', 'Canberra'], ['Brazil', 'Brasilia'], ['Egypt', 'Cairo'], ['Kenya', 'Nairobi'], ['India', 'New Delhi'], ['China', 'Beijing'],
  ['Russia', 'Moscow'], ['Mexico', 'Mexico City'], ['Argentina', 'Buenos Aires'], ['Peru', 'Lima'], ['Norway', 'Oslo'], ['Sweden', 'Stockholm'],
  ['Finland', 'Helsinki'], ['Denmark', 'Copenhagen'], ['Ireland', 'Dublin'], ['Portugal', 'Lisbon'], ['Greece', 'Athens'], ['Turkey', 'Ankara'],
  ['Poland', 'Warsaw'], ['Austria', 'Vienna'], ['Hungary', 'Budapest'], ['the Netherlands', 'Amsterdam'], ['Belgium', 'Brussels'],
  ['Switzerland', 'Bern'], ['South Korea', 'Seoul'], ['Thailand', 'Bangkok'], ['Vietnam', 'Hanoi'], ['Indonesia', 'Jakarta'],
  ['the Philippines', 'Manila'], ['New Zealand', 'Wellington'], ['Nigeria', 'Abuja'], ['Ghana', 'Accra'], ['Morocco', 'Rabat'],
  ['Chile', 'Santiago'], ['Colombia', 'Bogota'], ['Cuba', 'Havana'], ['Iceland', 'Reykjavik'], ['Scotland', 'Edinburgh'],
  ['England', 'London'], ['Wales', 'Cardiff'], ['the United States', 'Washington, D.C.'], ['Czechia', 'Prague'], ['Ethiopia', 'Addis Ababa'],
  ['Saudi Arabia', 'Riyadh'], ['Pakistan', 'Islamabad'], ['Bangladesh', 'Dhaka'], ['Nepal', 'Kathmandu'], ['Ukraine', 'Kyiv'],
  ['Romania', 'Bucharest'], ['Croatia', 'Zagreb'], ['Jamaica', 'Kingston'], ['Senegal', 'Dakar'], ['Uruguay', 'Montevideo'], ['Malaysia', 'Kuala Lumpur']];
const ANIMALS = [ // name, plural, sound, legs, baby
  ['dog', 'dogs', 'barks', 4, 'puppy'], ['cat', 'cats', 'meows', 4, 'kitten'], ['cow', 'cows', 'moos', 4, 'calf'],
  ['horse', 'horses', 'neighs', 4, 'foal'], ['sheep', 'sheep', 'baas', 4, 'lamb'], ['duck', 'ducks', 'quacks', 2, 'duckling'],
  ['chicken', 'chickens', 'clucks', 2, 'chick'], ['pig', 'pigs', 'oinks', 4, 'piglet'], ['lion', 'lions', 'roars', 4, 'cub'],
  ['owl', 'owls', 'hoots', 2, 'owlet'], ['frog', 'frogs', 'croaks', 4, 'tadpole'], ['goat', 'goats', 'bleats', 4, 'kid'],
  ['bee', 'bees', 'buzzes', 6, 'larva'], ['snake', 'snakes', 'hisses', 0, 'snakelet'], ['kangaroo', 'kangaroos', 'grunts', 2, 'joey'],
  ['spider', 'spiders', 'makes no sound at all', 8, 'spiderling'], ['donkey', 'donkeys', 'brays', 4, 'foal'], ['bear', 'bears', 'growls', 4, 'cub'],
  ['ant', 'ants', 'makes almost no sound', 6, 'larva'], ['penguin', 'penguins', 'squawks', 2, 'chick'], ['deer', 'deer', 'bellows', 4, 'fawn'],
];
const THING_COLOURS = [['the sky on a clear day', 'blue'], ['grass', 'green'], ['a ripe banana', 'yellow'], ['snow', 'white'], ['coal', 'black'],
  ['a strawberry', 'red'], ['a carrot', 'orange'], ['a lemon', 'yellow'], ['a fire engine', 'usually red'], ['an aubergine', 'purple'],
  ['chocolate', 'brown'], ['milk', 'white'], ['a lime', 'green'], ['a flamingo', 'pink'], ['the sun', 'yellow, or white if you see it from space'],
  ['a crow', 'black'], ['a pumpkin', 'orange'], ['the sea', 'usually blue or green'], ['a tomato', 'red'], ['an elephant', 'grey']];
const MIXES = [['red', 'yellow', 'orange'], ['blue', 'yellow', 'green'], ['red', 'blue', 'purple'], ['red', 'white', 'pink'],
  ['black', 'white', 'grey'], ['blue', 'white', 'light blue'], ['yellow', 'white', 'cream'], ['red', 'green', 'brown']];
const OPPOSITES = [['hot', 'cold'], ['big', 'small'], ['fast', 'slow'], ['happy', 'sad'], ['up', 'down'], ['light', 'dark'], ['old', 'new'],
  ['early', 'late'], ['open', 'closed'], ['full', 'empty'], ['loud', 'quiet'], ['hard', 'soft'], ['wet', 'dry'], ['tall', 'short'],
  ['day', 'night'], ['win', 'lose'], ['push', 'pull'], ['rich', 'poor'], ['strong', 'weak'], ['begin', 'end'], ['inside', 'outside'],
  ['heavy', 'light'], ['clean', 'dirty'], ['easy', 'difficult'], ['friend', 'enemy'], ['left', 'right'], ['always', 'never'], ['near', 'far']];
const SPELL = `apple banana elephant giraffe library rhythm necessary beautiful friend computer yellow orange purple chocolate
strawberry penguin octopus umbrella kitchen garden bicycle dinosaur mountain river island window pencil teacher school
morning evening tomorrow yesterday because between people little water summer winter autumn spring music guitar piano
violin rabbit turtle dolphin whale tiger zebra monkey lemon cherry potato tomato carrot onion pizza pasta sandwich cookie
butter cheese bread coffee planet rocket galaxy ocean desert forest jungle castle dragon wizard pirate robot puzzle
Wednesday February question answer different important family birthday holiday weekend balloon journey treasure
calendar restaurant museum hospital airport station village country science history picture camera notebook
keyboard blanket pillow mirror ladder bridge tunnel harbor lighthouse volcano thunder rainbow sunshine snowflake`.split(/\s+/);
const PLANETS = ['Mercury', 'Venus', 'Earth', 'Mars', 'Jupiter', 'Saturn', 'Uranus', 'Neptune'];
const SHAPES = [['triangle', 3], ['square', 4], ['rectangle', 4], ['pentagon', 5], ['hexagon', 6], ['heptagon', 7], ['octagon', 8], ['decagon', 10]];
const PLURALS = [['mouse', 'mice'], ['child', 'children'], ['foot', 'feet'], ['tooth', 'teeth'], ['goose', 'geese'], ['person', 'people'],
  ['man', 'men'], ['woman', 'women'], ['leaf', 'leaves'], ['knife', 'knives'], ['box', 'boxes'], ['city', 'cities'], ['fish', 'fish'],
  ['sheep', 'sheep'], ['cactus', 'cacti'], ['wolf', 'wolves'], ['baby', 'babies'], ['potato', 'potatoes'], ['bus', 'buses']];
const RHYMES = [['cat', 'hat, bat and mat'], ['dog', 'log, frog and fog'], ['cake', 'lake, bake and snake'], ['star', 'car, jar and far'],
  ['moon', 'spoon, soon and tune'], ['tree', 'bee, free and sea'], ['light', 'night, kite and bright'], ['bear', 'chair, hair and pear'],
  ['rain', 'train, plane and chain'], ['day', 'play, say and may'], ['house', 'mouse and blouse'], ['sun', 'fun, run and bun']];
const JOKES = [
  ['Why did the scarecrow win an award?', 'Because he was outstanding in his field!'],
  ['Why don\'t eggs tell jokes?', 'They\'d crack each other up.'],
  ['What do you call a fish with no eyes?', 'A fsh.'],
  ['Why did the bicycle fall over?', 'Because it was two-tired.'],
  ['What do you call a sleeping dinosaur?', 'A dino-snore.'],
  ['Why can\'t you trust an atom?', 'Because they make up everything.'],
  ['What do you call cheese that isn\'t yours?', 'Nacho cheese.'],
  ['Why did the math book look sad?', 'It had too many problems.'],
  ['How does the moon cut his hair?', 'Eclipse it.'],
  ['What did the ocean say to the beach?', 'Nothing, it just waved.'],
  ['Why do bees have sticky hair?', 'Because they use honeycombs.'],
  ['What do you call a bear with no teeth?', 'A gummy bear.'],
  ['Why was the computer cold?', 'It left its Windows open.'],
  ['What did one plate say to the other?', 'Dinner is on me.'],
  ['Why did the cookie go to the doctor?', 'It felt crummy.'],
  ['What kind of tree fits in your hand?', 'A palm tree.'],
  ['Why did the tomato blush?', 'Because it saw the salad dressing.'],
  ['What do you call a dog that does magic?', 'A labracadabrador.'],
  ['Why are ghosts bad at lying?', 'Because you can see right through them.'],
  ['What has ears but cannot hear?', 'A cornfield.'],
  ['Why did the golfer bring two pairs of trousers?', 'In case he got a hole in one.'],
  ['What do you call a pile of cats?', 'A meowtain.'],
  ['Why don\'t skeletons fight each other?', 'They don\'t have the guts.'],
  ['What do you call a snowman with a six-pack?', 'An abdominal snowman.'],
];
const ADVICE = [
  [['How can I sleep better?', 'I can\'t sleep well lately. Any tips?'], ['Try going to bed at the same time every night and keep screens away for the last hour.', 'Keep your room cool and dark, and skip coffee after lunch.']],
  [['I\'m stressed about work.', 'How do I deal with stress?'], ['Try writing down the three most important tasks and start with the smallest one.', 'A short walk and a few slow breaths can really help.']],
  [['How should I study for an exam?', 'Any tips for studying?'], ['Study in short sessions, test yourself, and take little breaks.', 'Explain the topic out loud as if you were teaching it. It shows you what you still need to learn.']],
  [['How do I make new friends?', 'It\'s hard to make friends in a new city.'], ['Join a club or a class about something you enjoy. Shared hobbies make talking easy.', 'Say yes to small invitations, and ask people about themselves.']],
  [['How can I save money?', 'Any tips for saving money?'], ['Write down what you spend for a month. It makes it easy to see where to cut back.', 'Set aside a small amount as soon as you get paid, before you spend anything.']],
  [['How do I learn a new language?', 'What\'s the best way to learn Spanish?'], ['A little every day works better than a lot once a week. Try listening to simple podcasts too.', 'Practise speaking early, even if you make mistakes. That\'s how you learn.']],
  [['How can I drink more water?', 'I always forget to drink water.'], ['Keep a bottle on your desk and take a sip every time you finish a task.', 'Try a glass of water with every meal. It soon becomes a habit.']],
  [['I can\'t get motivated.', 'How do I stop procrastinating?'], ['Start with just five minutes. Getting started is the hardest part.', 'Break the job into tiny steps and tick them off one by one.']],
  [['How do I start running?', 'I want to get fitter. Where do I start?'], ['Start slowly: mix walking and running, three times a week.', 'Pick something you enjoy, like walking, dancing or cycling, and do a little every day.']],
  [['What should I cook tonight?', 'I don\'t know what to make for dinner.'], ['How about a simple stir-fry? Vegetables, rice and whatever sauce you like.', 'Pasta with tomatoes, garlic and a bit of cheese is quick and tasty.']],
  [['I had an argument with my friend.', 'My friend is upset with me.'], ['Give it a little time, then tell them how you feel and listen to their side.', 'A simple, honest sorry goes a long way.']],
  [['How do I get better at drawing?', 'I want to learn to draw.'], ['Draw something small every day, and copy things you like. You\'ll improve quickly.', 'Start with simple shapes and sketch real objects around you.']],
  [['How can I be more organised?', 'My desk is always messy.'], ['Spend five minutes tidying at the end of each day.', 'Give everything a home, and write your tasks in one list.']],
  [['I\'m nervous about a job interview.', 'Any interview tips?'], ['Prepare a few stories about things you\'ve done well, and practise saying them out loud.', 'Research the company, get there early, and remember they want you to do well.']],
];
const BOT = { // Pip's persona, the same in every conversation
  name: 'Pip',
  favourites: { colour: 'green', food: 'pancakes, if I could eat', animal: 'the otter', season: 'autumn', sport: 'chess, if that counts',
    fruit: 'mangoes', drink: 'tea, in theory', subject: 'maths', number: '7', book: 'mysteries', music: 'jazz' },
};

// ---------------------------------------------------------------- open-ended values
// Values no fixed list holds: a model can only answer a question about them by copying them
// from the conversation, not by recalling one it memorised (eval.txt asks about values it has
// never seen). Made-up words from syllables ("Belzutor", "Krivaholm"), and everyday nouns for
// code words and "repeat after me" (none of them a value eval.txt may ask about).
const ONSETS = ['b', 'br', 'd', 'dr', 'f', 'g', 'gr', 'k', 'kr', 'l', 'm', 'n', 'p', 'r', 's', 'sh', 't', 'th', 'v', 'z'];
const NUCLEI = ['a', 'e', 'i', 'o', 'u', 'a', 'e', 'o', 'ai', 'ou'];
const CODAS = ['', '', '', 'n', 'r', 'l', 's', 'm', 'x'];
const PLACE_ENDS = ['holm', 'vik', 'ford', 'mere', 'wick', 'dale', 'stead', 'haven', 'moor', 'bury'];
/** a capitalised made-up word of `syllables` syllables (and `suffix`) that `ok` accepts */
const syllableWord = (syllables, suffix, ok) => {
  for (;;) {
    let w = '';
    for (let i = 0; i < syllables; i++) w += pick(ONSETS) + pick(NUCLEI);
    w = cap(w + pick(CODAS) + suffix);
    if (ok(w)) return w;
  }
};
const evalValues = new Set([HELD_NAMES, HELD_CITIES, HELD_PET_NAMES, HELD_SECRET_WORDS, HELD_JOBS, HELD_INSTRUMENTS, HELD_PETS.flat(),
  ...Object.values(HELD_FAVOURITES), ...Object.values(EVAL_ONLY)].flat().map((v) => v.toLowerCase()));
const openName = () => syllableWord(range(2, 3), '', (w) => !evalValues.has(w.toLowerCase()));
const openPlace = () => syllableWord(range(1, 2), chance(0.6) ? pick(PLACE_ENDS) : '', (w) => !evalValues.has(w.toLowerCase()));
const NOUNS = `acorn anchor apron arrow attic bagel balloon bamboo barrel basket beacon beetle bell bench blanket bonnet
boot bottle bracelet bramble brick bridge broom bubble bucket button cabin camel candle canoe canyon carpet carrot castle
cherry chimney cloud clover coconut compass cookie coral cotton crayon cricket crown crystal cushion daisy desert diamond
dolphin dragon drum eagle easel feather fern fiddle flag flannel forest fountain fossil garden garlic gate ginger goblet
grape gravel guitar hammer hammock hazel helmet honey hook horizon iceberg igloo island ivory jacket jelly jigsaw kettle
kite ladder ladle lemon lettuce lily lobster locket magnet mango map meteor mirror mitten moose mountain muffin mushroom
napkin necklace needle nutmeg oak oar olive onion orbit otter paddle pancake parcel peach peanut pearl pepper pigeon pillow
pine planet plum pocket pony pretzel pumpkin quilt rabbit radish raft rainbow raven ribbon river robin rose ruby saddle
sail salmon sandal scarf shell shovel silk skate sled slipper snail sock spade sparrow spider sponge spoon squirrel star
statue stone straw sugar sunflower swan sweater teapot tent thimble ticket tiger toast tomato torch tower tractor trumpet
tulip tunnel turnip umbrella valley vase wagon wand whistle windmill wizard wool yarn yoghurt`.split(/\s+/).filter((w) => !evalValues.has(w));

// ---------------------------------------------------------------- casual typing
function casual(text) {
  if (!chance(0.25)) return text;
  let t = text.toLowerCase();
  if (chance(0.6)) t = t.replace(/[.!]$/, '');
  if (chance(0.5)) t = t.replace(/'/g, '');
  if (chance(0.3)) t = t.replace(/\?$/, '');
  return t;
}
const colourWord = () => (chance(0.5) ? 'colour' : 'color');
const favWord = () => (chance(0.6) ? 'favourite' : 'favorite');

// ---------------------------------------------------------------- facts about the user
// Each kind: make(ctx) -> value; state(v) -> human line; ack(v, ctx) -> bot line;
// ask(v) -> recall question; answer(v) -> bot line containing the value (or recall(v) ->
// [question, answer] when they must match); about(v) -> the
// fact as a clause for summaries ("you live in Oslo"); follow (optional):
// a computed follow-up question about the fact; unknown: the answer when it was never said.
const FACTS = {
  name: {
    make: (ctx) => (chance(0.5) ? openName() : pick(NAMES.filter((n) => n !== ctx.friend))),
    state: (v) => pick([`My name is ${v}.`, `I'm ${v}.`, `Call me ${v}.`, `You can call me ${v}.`, `By the way, my name is ${v}.`]),
    ack: (v) => pick([`Nice to meet you, ${v}!`, `Hello, ${v}! Lovely to meet you.`, `Hi ${v}! Great to meet you.`, `Nice to meet you, ${v}. I'm Pip.`]),
    ask: () => pick(['What\'s my name?', 'Do you remember my name?', 'What did I say my name was?', 'Who am I?']),
    answer: (v) => pick([`Your name is ${v}.`, `You told me your name is ${v}.`, `You're ${v}!`, `Of course! You're ${v}.`]),
    about: (v) => `your name is ${v}`,
    follow: (v) => pick([
      [`How do you spell my name?`, `${v.toUpperCase().split('').join('-')}.`],
      [`How many letters are in my name?`, `${v} has ${v.length} letters.`],
      [`What letter does my name start with?`, `${v} starts with ${v[0]}.`],
    ]),
    unknown: 'You haven\'t told me your name yet. What is it?',
  },
  pets: {
    make: () => ({ kind: pick(PETS), n: chance(0.4) ? 1 : range(2, 6), pet: chance(0.5) ? openName() : pick(PET_NAMES) }),
    state: ({ kind, n, pet }) => (n === 1
      ? pick([`I have ${an(kind[0])} called ${pet}.`, `I've got ${an(kind[0])} named ${pet}.`, `My ${kind[0]} is called ${pet}.`])
      : pick([`I have ${num(n)} ${kind[1]}.`, `I've got ${num(n)} ${kind[1]} at home.`, `We have ${num(n)} ${kind[1]}.`])),
    ack: ({ kind, n, pet }, ctx) => (n === 1
      ? pick([`${pet} is a lovely name for ${an(kind[0])}!`, `Aw, ${pet} the ${kind[0]}! That's sweet.`, `I bet ${pet} is great company${ctx.name ? `, ${ctx.name}` : ''}.`])
      : pick([`${cap(num(n))} ${kind[1]}! That sounds like a lively home.`, `Wow, ${num(n)} ${kind[1]}! They must keep you busy.`, `That's a lot of ${kind[1]}. How fun!`])),
    // question and answer chosen together: "what kind of pet" and "what's it called" differ
    recall: ({ kind, n, pet }) => (n === 1
      ? pick([
        [pick([`What's my ${kind[0]} called?`, `What did I say my ${kind[0]}'s name was?`, `Do you remember my pet's name?`]),
          pick([`Your ${kind[0]} is called ${pet}.`, `${pet} the ${kind[0]}!`])],
        [pick(['What kind of pet do I have?', 'What pet did I tell you about?']), pick([`You have ${an(kind[0])} named ${pet}.`, `${an(kind[0])} called ${pet}.`].map(cap))],
      ])
      : pick([
        [pick([`How many ${kind[1]} do I have?`, `How many ${kind[1]} did I say I have?`, `Do you remember how many ${kind[1]} I have?`]),
          pick([`You have ${num(n)} ${kind[1]}.`, `You said you have ${num(n)} ${kind[1]}.`, `${cap(num(n))} ${kind[1]}.`])],
        [pick(['What pets do I have?', 'What kind of pets did I say I have?']), pick([`You have ${num(n)} ${kind[1]}.`, `${cap(num(n))} ${kind[1]}.`])],
      ])),
    answer: ({ kind, n, pet }) => (n === 1 ? `You have ${an(kind[0])} named ${pet}.` : `You have ${num(n)} ${kind[1]}.`),
    about: ({ kind, n, pet }) => (n === 1 ? `you have ${an(kind[0])} called ${pet}` : `you have ${n} ${kind[1]}`),
    follow: ({ kind, n }) => {
      const k = range(1, 3);
      return [`If I got ${num(k)} more, how many ${kind[1]} would I have?`, `You'd have ${n + k} ${n + k === 1 ? kind[0] : kind[1]}.`];
    },
    unknown: 'You haven\'t told me about any pets. Do you have one?',
  },
  age: {
    make: () => range(8, 85),
    state: (v) => pick([`I'm ${v} years old.`, `I just turned ${v}.`, `I am ${v}.`, `I'm ${v}, by the way.`]),
    ack: (v) => (v < 13 ? pick([`${v} is a great age!`, `Cool, ${v}! Thanks for telling me.`])
      : pick([`Thanks for telling me. ${v} is a good age!`, `Nice, ${v}!`, `Got it, you're ${v}.`])),
    ask: () => pick(['How old am I?', 'Do you remember my age?', 'What age did I tell you I am?']),
    answer: (v) => pick([`You're ${v} years old.`, `You told me you're ${v}.`, `You're ${v}.`]),
    about: (v) => `you're ${v} years old`,
    follow: (v) => {
      const k = range(2, 20);
      return chance(0.6)
        ? [`How old will I be in ${k} years?`, `In ${k} years you'll be ${v + k}.`]
        : [`How old was I ${Math.min(k, v - 1)} years ago?`, `${Math.min(k, v - 1)} years ago you were ${v - Math.min(k, v - 1)}.`];
    },
    unknown: 'You haven\'t told me your age.',
  },
  city: {
    make: () => (chance(0.5) ? openPlace() : pick(CITIES)),
    state: (v) => pick([`I live in ${v}.`, `I'm living in ${v} these days.`, `My home is in ${v}.`]),
    ack: (v) => pick([`${v} sounds like a great place to live.`, `Oh, ${v}! I've heard it's lovely.`, `Nice! How do you like living in ${v}?`]),
    ask: () => pick(['Where do I live?', 'What city did I say I live in?']),
    answer: (v) => pick([`You live in ${v}.`, `You said you live in ${v}.`, `In ${v}.`]),
    about: (v) => `you live in ${v}`,
    unknown: 'You haven\'t told me where you live.',
  },
  job: {
    make: () => pick(JOBS),
    state: (v) => pick([`I work as ${an(v)}.`, `I'm ${an(v)}.`, `My job? I'm ${an(v)}.`]),
    ack: (v) => pick([`Being ${an(v)} sounds interesting!`, `${cap(an(v))}! That must keep you busy.`, `Cool, I'd love to hear more about being ${an(v)}.`]),
    ask: () => pick(['What do I do for a living?', 'What\'s my job?', 'Do you remember what I do for work?']),
    answer: (v) => pick([`You're ${an(v)}.`, `You work as ${an(v)}.`, `You told me you're ${an(v)}.`]),
    about: (v) => `you work as ${an(v)}`,
    unknown: 'You haven\'t told me what you do.',
  },
  hobby: {
    make: () => pick(HOBBIES),
    state: (v) => pick([`In my free time I like to ${v}.`, `I love to ${v}.`, `My hobby is to ${v}.`]),
    ack: (v) => pick([`That sounds like a lot of fun!`, `Nice! How long have you liked to ${v}?`, `I think it's great to ${v}.`]),
    ask: () => pick(['What do I like to do in my free time?', 'What\'s my hobby?', 'Do you remember my hobby?']),
    answer: (v) => pick([`You like to ${v}.`, `You said you love to ${v}.`]),
    about: (v) => `you like to ${v}`,
    unknown: 'You haven\'t told me about your hobbies yet.',
  },
  instrument: {
    make: () => pick(INSTRUMENTS),
    state: (v) => pick([`I play the ${v}.`, `I've been learning the ${v}.`]),
    ack: (v) => pick([`The ${v}! That's a wonderful instrument.`, `Cool! Playing the ${v} takes real practice.`]),
    ask: () => pick(['What instrument do I play?', 'Which instrument did I mention?']),
    answer: (v) => pick([`You play the ${v}.`, `The ${v}.`]),
    about: (v) => `you play the ${v}`,
    unknown: 'You haven\'t mentioned an instrument.',
  },
  siblings: {
    make: () => ({ n: range(1, 5), kind: pick([['brother', 'brothers'], ['sister', 'sisters']]) }),
    state: ({ n, kind }) => (n === 1 ? `I have one ${kind[0]}.` : pick([`I have ${num(n)} ${kind[1]}.`, `I've got ${num(n)} ${kind[1]}.`])),
    ack: ({ n, kind }) => (n === 1 ? `Nice! Are you close to your ${kind[0]}?` : pick([`${cap(num(n))} ${kind[1]}! Your house must be busy.`, `That's a big family!`])),
    ask: ({ kind }) => pick([`How many ${kind[1]} do I have?`, `How many ${kind[1]} did I say I have?`]),
    answer: ({ n, kind }) => (n === 1 ? `You have one ${kind[0]}.` : pick([`You have ${num(n)} ${kind[1]}.`, `You said ${num(n)} ${kind[1]}.`])),
    about: ({ n, kind }) => (n === 1 ? `you have one ${kind[0]}` : `you have ${n} ${kind[1]}`),
    unknown: 'You haven\'t told me about your family.',
  },
  friend: {
    make: (ctx) => (chance(0.5) ? openName() : pick(NAMES.filter((n) => n !== ctx.name))),
    state: (v) => pick([`My best friend is called ${v}.`, `My best friend's name is ${v}.`]),
    ack: (v) => pick([`${v} sounds like a good friend to have.`, `Nice! How did you meet ${v}?`]),
    ask: () => pick(['What\'s my best friend called?', 'What did I say my best friend\'s name was?']),
    answer: (v) => pick([`Your best friend is ${v}.`, `Your best friend is called ${v}.`]),
    about: (v) => `your best friend is ${v}`,
    unknown: 'You haven\'t told me about your best friend.',
  },
  birthday: {
    make: () => int(12),
    state: (m) => pick([`My birthday is in ${MONTHS[m][0]}.`, `I was born in ${MONTHS[m][0]}.`]),
    ack: (m) => pick([`${MONTHS[m][0]}! I'll remember that.`, `${cap(an(MONTHS[m][0]))} birthday, how nice.`]),
    ask: () => pick(['When is my birthday?', 'What month is my birthday?']),
    answer: (m) => pick([`Your birthday is in ${MONTHS[m][0]}.`, `In ${MONTHS[m][0]}.`]),
    about: (m) => `your birthday is in ${MONTHS[m][0]}`,
    follow: (m) => [`And what month comes after that?`, `${MONTHS[(m + 1) % 12][0]} comes after ${MONTHS[m][0]}.`],
    unknown: 'You haven\'t told me your birthday.',
  },
  trip: {
    make: () => ({ place: chance(0.5) ? openPlace() : pick(CITIES), when: pick(['next week', 'next month', 'this weekend', 'in the summer', 'tomorrow', 'on Friday']) }),
    state: ({ place, when }) => pick([`I'm going to ${place} ${when}.`, `I'm travelling to ${place} ${when}.`]),
    ack: ({ place }) => pick([`How exciting! I hope you have a great time in ${place}.`, `${place}! Have a wonderful trip.`]),
    ask: () => pick(['Where am I going?', 'Where did I say I\'m travelling?', 'Do you remember where my trip is?']),
    answer: ({ place, when }) => pick([`You're going to ${place} ${when}.`, `To ${place}, ${when}.`]),
    about: ({ place, when }) => `you're going to ${place} ${when}`,
    unknown: 'You haven\'t told me about a trip.',
  },
  mood: {
    make: () => pick(MOODS),
    state: ([m]) => pick([`I'm feeling ${m} today.`, `Honestly, I feel ${m}.`]),
    ack: ([, reply]) => reply,
    ask: () => pick(['How did I say I was feeling?', 'Do you remember how I feel today?']),
    answer: ([m]) => pick([`You said you're feeling ${m}.`, `You told me you feel ${m} today.`]),
    about: ([m]) => `you're feeling ${m} today`,
    unknown: 'You haven\'t said. How are you feeling?',
  },
  number: {
    make: () => (chance(0.5) ? range(2, 999) : range(1000, 9999)),
    state: (v) => pick([`Please remember the number ${v}.`, `Remember this number: ${v}.`]),
    ack: (v) => pick([`Got it: ${v}.`, `Okay, I'll remember ${v}.`, `Sure, ${v} it is.`]),
    ask: () => pick(['What number did I ask you to remember?', 'What was the number?']),
    answer: (v) => pick([`The number was ${v}.`, `You asked me to remember ${v}.`, `${v}.`]),
    about: (v) => `you asked me to remember ${v}`,
    follow: (v) => {
      const k = range(2, 50);
      return pick([[`What is that number plus ${k}?`, `${v} plus ${k} is ${v + k}.`], [`What's double that number?`, `Double ${v} is ${2 * v}.`],
        [`Is that number even or odd?`, `${v} is ${v % 2 ? 'odd' : 'even'}.`]]);
    },
    unknown: 'You haven\'t given me a number to remember.',
  },
  bought: {
    make: () => pick(NOUNS),
    state: (v) => pick([`I just bought ${an(v)}.`, `Today I found ${an(v)} in the attic.`, `My aunt gave me ${an(v)} for my birthday.`]),
    ack: (v) => pick([`Ooh, ${an(v)}! What will you do with it?`, `${cap(an(v))}? How fun.`, `Nice, ${an(v)}!`]),
    ask: () => pick(['What did I say I got?', 'Do you remember what I got?', 'What was the thing I mentioned?']),
    answer: (v) => pick([`You got ${an(v)}.`, `${cap(an(v))}.`, `You told me about ${an(v)}.`]),
    about: (v) => `you got ${an(v)}`,
    unknown: 'You haven\'t told me about anything you got.',
  },
  secret: {
    make: () => (chance(0.75) ? pick(NOUNS) : pick(SECRET_WORDS)),
    state: (v) => pick([`The secret word is "${v}".`, `Let's make the password "${v}". Don't forget it!`]),
    ack: () => pick(['Got it. My lips are sealed!', 'Okay, I\'ll keep it safe.']),
    ask: () => pick(['What was the secret word?', 'What\'s the secret word?']),
    answer: (v) => pick([`The secret word is "${v}".`, `It's "${v}".`]),
    about: (v) => `the secret word is "${v}"`,
    unknown: 'You haven\'t told me a secret word.',
  },
};
for (const [cat, values] of Object.entries(FAVOURITES)) {
  const fav = cat === 'book' ? 'kind of book' : cat === 'music' ? 'kind of music' : cat;
  const word = () => (cat === 'colour' ? colourWord() : fav);
  FACTS[`fav_${cat}`] = {
    make: () => pick(values),
    state: (v) => pick([`My ${favWord()} ${word()} is ${v}.`, `${cap(v)} is my ${favWord()} ${word()}.`, ...(cat === 'number' ? [] : [`I really love ${v}.`])]),
    ack: (v) => pick([`${cap(v)}? Great choice!`, BOT.favourites[cat] === v ? `Nice, ${v}! Mine too.` : `Nice, ${v}! Mine is ${BOT.favourites[cat]}.`,
      `Good taste! I like ${v} too.`]),
    ask: () => pick([`What's my ${favWord()} ${word()}?`, `What ${fav === 'colour' ? word() : fav} do I like?`, `Do you remember my ${favWord()} ${word()}?`,
      `Which ${fav === 'colour' ? word() : fav} did I say I like best?`]),
    answer: (v) => pick([`Your favourite ${fav} is ${v}.`, `You said you love ${v}.`, `${cap(v)}!`]),
    about: (v) => `your favourite ${fav} is ${v}`,
    unknown: `You haven't told me your favourite ${fav}.`,
  };
}
const FACT_KINDS = Object.keys(FACTS);
// the exchanges about a fact, in chat.txt and (with values chat.txt never has) in eval-copy.txt
const statedFact = (kind, v, ctx) => [FACTS[kind].state(v), FACTS[kind].ack(v, ctx)];
const askedBack = (kind, v) => (FACTS[kind].recall ? FACTS[kind].recall(v) : [FACTS[kind].ask(v), FACTS[kind].answer(v)]);
/** [question, admission] about a fact of `kind` never given */
const neverGiven = (kind, ctx) => {
  const f = FACTS[kind];
  const v = f.make(ctx);
  return [f.recall ? f.recall(v)[0] : f.ask(v), f.unknown];
};

// ---------------------------------------------------------------- general topics
// Each returns a list of [human, bot] exchanges; later ones may refer to earlier answers.
const ops = {
  add: (a, b) => [a + b, pick([`What is ${a} plus ${b}?`, `What's ${a} + ${b}?`, `Can you add ${a} and ${b}?`]), `${a} plus ${b} is ${a + b}.`],
  sub: (a, b) => [a - b, pick([`What is ${a} minus ${b}?`, `What's ${a} - ${b}?`, `Take ${b} away from ${a}.`]), `${a} minus ${b} is ${a - b}.`],
  mul: (a, b) => [a * b, pick([`What is ${a} times ${b}?`, `What's ${a} x ${b}?`, `Multiply ${a} by ${b}.`]), `${a} times ${b} is ${a * b}.`],
};
const TOPICS = {
  arithmetic() {
    const kind = pick(['add', 'add', 'sub', 'mul', 'mul', 'div']);
    let v, h, b;
    if (kind === 'div') {
      const q = range(2, 12), d = range(2, 12);
      v = q; h = pick([`What is ${q * d} divided by ${d}?`, `What's ${q * d} / ${d}?`]); b = `${q * d} divided by ${d} is ${q}.`;
    } else if (kind === 'sub') {
      const a = range(5, 200), c = range(1, a);
      [v, h, b] = ops.sub(a, c);
    } else if (kind === 'mul') [v, h, b] = ops.mul(range(2, 15), range(2, 12));
    else [v, h, b] = ops.add(range(1, 500), range(1, 500));
    const out = [[h, b]];
    if (chance(0.5)) { // follow-ups about "that"
      const k = range(2, 20);
      const f = pick([
        () => [pick([`Now add ${k} to that.`, `And plus ${k}?`]), `${v} plus ${k} is ${v + k}.`, v + k],
        () => [pick(['And double that?', 'What\'s twice that?']), `Double ${v} is ${2 * v}.`, 2 * v],
        () => (v % 2 === 0 ? ['And half of that?', `Half of ${v} is ${v / 2}.`, v / 2] : ['Is that even or odd?', `${v} is odd.`, v]),
        () => [`Take away ${Math.min(k, v)} from that.`, `${v} minus ${Math.min(k, v)} is ${v - Math.min(k, v)}.`, v - Math.min(k, v)],
      ])();
      out.push([f[0], f[1]]);
    }
    return out;
  },
  square() {
    const n = range(2, 20);
    return [[pick([`What is ${n} squared?`, `What's ${n} times itself?`]), `${n} squared is ${n * n}.`]];
  },
  compare() {
    const a = range(1, 1000), b = range(1, 1000);
    if (a === b) return [[`Which is bigger, ${a} or ${b}?`, 'They\'re the same number!']];
    if (chance(0.5)) return [[`Which is bigger, ${a} or ${b}?`, `${Math.max(a, b)} is bigger than ${Math.min(a, b)}.`]];
    return [[`Is ${a} more than ${b}?`, a > b ? `Yes, ${a} is more than ${b}.` : `No, ${a} is less than ${b}.`]];
  },
  evenOdd() {
    const n = range(1, 999);
    return [[pick([`Is ${n} even or odd?`, `Is ${n} an even number?`]), n % 2 ? `${n} is odd.` : `${n} is even.`]];
  },
  sortNumbers() {
    const xs = [range(1, 99), range(1, 99), range(1, 99), range(1, 99)].slice(0, range(3, 4));
    return [[`Put these in order from smallest to largest: ${xs.join(', ')}.`, `${[...xs].sort((a, b) => a - b).join(', ')}.`]];
  },
  conversion() {
    const c = pick([
      () => { const n = range(1, 50); return [`How many metres are in ${n} kilometres?`, `${n} kilometres is ${n * 1000} metres.`]; },
      () => { const n = range(1, 30); return [`How many centimetres are in ${n} metres?`, `${n} metres is ${n * 100} centimetres.`]; },
      () => { const n = range(1, 40); return [`How many grams are in ${n} kilograms?`, `${n} kilograms is ${n * 1000} grams.`]; },
      () => { const n = range(1, 24); return [`How many minutes are in ${n} hours?`, `${n} hours is ${n * 60} minutes.`]; },
      () => { const n = range(1, 30); return [`How many seconds are in ${n} minutes?`, `${n} minutes is ${n * 60} seconds.`]; },
      () => { const n = range(1, 14); return [`How many hours are in ${n} days?`, `${n} days is ${n * 24} hours.`]; },
      () => { const n = range(1, 20); return [`How many days are in ${n} weeks?`, `${n} weeks is ${n * 7} days.`]; },
      () => { const n = range(1, 10); return [`How many inches are in ${n} feet?`, `${n} feet is ${n * 12} inches.`]; },
      () => { const n = range(1, 10); return [`How many eggs are in ${n} dozen?`, `${n} dozen is ${n * 12} eggs.`]; },
      () => { const n = range(1, 20); return [`How many millilitres are in ${n} litres?`, `${n} litres is ${n * 1000} millilitres.`]; },
      () => { const n = range(1, 12) * 60; return [`How many hours is ${n} minutes?`, `${n} minutes is ${n / 60} hours.`]; },
      () => { const n = range(1, 30) * 1000; return [`How many kilometres is ${n} metres?`, `${n} metres is ${n / 1000} kilometres.`]; },
      () => { const n = range(-4, 8) * 5; return [`What is ${n} degrees Celsius in Fahrenheit?`, `${n} degrees Celsius is ${n * 9 / 5 + 32} degrees Fahrenheit.`]; },
      () => { const n = range(1, 10); return [`How many months are in ${n} years?`, `${n} years is ${n * 12} months.`]; },
    ])();
    return [c];
  },
  spelling() {
    const w = pick(SPELL), lw = w.toLowerCase();
    const spelled = w.toUpperCase().split('').join('-');
    const out = [[pick([`How do you spell ${lw}?`, `Can you spell "${lw}" for me?`, `Spell ${lw}, please.`]), `${cap(lw)} is spelled ${spelled}.`]];
    if (chance(0.5)) {
      out.push(pick([
        ['How many letters is that?', `${cap(lw)} has ${lw.length} letters.`],
        ['What letter does it start with?', `${cap(lw)} starts with ${lw[0].toUpperCase()}.`],
        ['And backwards?', `Backwards it's ${lw.split('').reverse().join('').toUpperCase().split('').join('-')}.`],
        ['What\'s the last letter?', `The last letter of ${lw} is ${lw[lw.length - 1].toUpperCase()}.`],
      ]));
    }
    return out;
  },
  letters() {
    const w = pick(SPELL).toLowerCase();
    return [[pick([`How many letters are in the word "${w}"?`, `How many letters does ${w} have?`]), `"${cap(w)}" has ${w.length} letters.`]];
  },
  counting() {
    const c = pick([
      () => { const n = range(3, 12); return [`Count to ${n}.`, `${Array.from({ length: n }, (_, i) => i + 1).join(', ')}.`]; },
      () => { const n = range(3, 10); return [`Count down from ${n}.`, `${Array.from({ length: n }, (_, i) => n - i).join(', ')}. Liftoff!`]; },
      () => { const n = range(4, 10) * 2; return [`Count by twos to ${n}.`, `${Array.from({ length: n / 2 }, (_, i) => 2 * i + 2).join(', ')}.`]; },
      () => { const n = range(3, 10) * 5; return [`Count by fives to ${n}.`, `${Array.from({ length: n / 5 }, (_, i) => 5 * i + 5).join(', ')}.`]; },
      () => { const n = range(1, 998); return [`What number comes after ${n}?`, `${n + 1} comes after ${n}.`]; },
      () => { const n = range(2, 999); return [`What number comes before ${n}?`, `${n - 1} comes before ${n}.`]; },
    ])();
    return [c];
  },
  alphabet() {
    const i = range(1, 24), L = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    return [pick([
      [`What letter comes after ${L[i]}?`, `${L[i + 1]} comes after ${L[i]}.`],
      [`What letter comes before ${L[i]}?`, `${L[i - 1]} comes before ${L[i]}.`],
      [`What number letter of the alphabet is ${L[i]}?`, `${L[i]} is letter number ${i + 1}.`],
      ['How many letters are in the alphabet?', 'There are 26 letters in the English alphabet.'],
    ])];
  },
  days() {
    const d = int(7), k = range(1, 10);
    const [h, b, answer] = pick([
      [`What day comes after ${DAYS[d]}?`, `${DAYS[(d + 1) % 7]} comes after ${DAYS[d]}.`, (d + 1) % 7],
      [`What day comes before ${DAYS[d]}?`, `${DAYS[(d + 6) % 7]} comes before ${DAYS[d]}.`, (d + 6) % 7],
      [`If today is ${DAYS[d]}, what day will it be in ${k} days?`, `In ${k} days it will be ${DAYS[(d + k) % 7]}.`, (d + k) % 7],
      ['How many days are in a week?', 'There are 7 days in a week.', -1],
      ['Which days are the weekend?', 'Saturday and Sunday.', -1],
    ]);
    const out = [[h, b]];
    if (answer >= 0 && chance(0.3)) out.push(['And the day after that?', `After ${DAYS[answer]} comes ${DAYS[(answer + 1) % 7]}.`]);
    return out;
  },
  months() {
    const m = int(12);
    return [pick([
      [`What month comes after ${MONTHS[m][0]}?`, `${MONTHS[(m + 1) % 12][0]} comes after ${MONTHS[m][0]}.`],
      [`How many days are in ${MONTHS[m][0]}?`, m === 1 ? 'February has 28 days, or 29 in a leap year.' : `${MONTHS[m][0]} has ${MONTHS[m][1]} days.`],
      [`What number month is ${MONTHS[m][0]}?`, `${MONTHS[m][0]} is month number ${m + 1}.`],
      ['How many months are in a year?', 'There are 12 months in a year.'],
    ])];
  },
  colours() {
    const c = chance(0.5) ? pick(MIXES) : null;
    if (c) return [[pick([`What do you get if you mix ${c[0]} and ${c[1]}?`, `What colour do ${c[0]} and ${c[1]} make?`]), `${cap(c[0])} and ${c[1]} make ${c[2]}.`]];
    const [thing, col] = pick(THING_COLOURS);
    return [[`What ${colourWord()} is ${thing}?`, `${cap(thing)} is ${col}.`]];
  },
  animals() {
    const [a, pl, sound, legs, baby] = pick(ANIMALS);
    const out = [pick([
      [`What sound does ${an(a)} make?`, `${cap(an(a))} ${sound}.`],
      [`How many legs does ${an(a)} have?`, legs === 0 ? `${cap(an(a))} has no legs at all.` : `${cap(an(a))} has ${legs} legs.`],
      [`What is a baby ${a} called?`, `A baby ${a} is called ${an(baby)}.`],
    ])];
    if (chance(0.35)) {
      const n = range(2, 6);
      out.push([`So how many legs do ${n} ${pl} have?`, legs === 0 ? `Still none! ${cap(pl)} don't have legs.` : `${n} ${pl} have ${n * legs} legs.`]);
    }
    return out;
  },
  capitals() {
    const [country, city] = pick(CAPITALS);
    const out = [chance(0.75)
      ? [pick([`What is the capital of ${country}?`, `What's the capital city of ${country}?`]), `The capital of ${country} is ${city}.`]
      : [`${city} is the capital of which country?`, `${city} is the capital of ${country}.`]];
    if (chance(0.4)) { // elliptical follow-up: "and X?"
      const [c2, city2] = pick(CAPITALS.filter((x) => x[0] !== country));
      out.push([pick([`And ${c2}?`, `What about ${c2}?`]), `The capital of ${c2} is ${city2}.`]);
    }
    return out;
  },
  planets() {
    const i = int(8);
    return [pick([
      ['How many planets are in our solar system?', 'There are 8 planets in our solar system.'],
      ['What is the biggest planet?', 'Jupiter is the biggest planet in our solar system.'],
      ['Which planet is closest to the sun?', 'Mercury is the closest planet to the sun.'],
      [`Which planet is number ${i + 1} from the sun?`, `${PLANETS[i]} is planet number ${i + 1} from the sun.`],
      ['What planet do we live on?', 'We live on Earth, the third planet from the sun.'],
      ['Which planet has rings?', 'Saturn is famous for its rings, though Jupiter, Uranus and Neptune have faint ones too.'],
    ])];
  },
  opposites() {
    const [a, b] = pick(OPPOSITES);
    return chance(0.5) ? [[`What's the opposite of ${a}?`, `The opposite of ${a} is ${b}.`]] : [[`What is the opposite of ${b}?`, `The opposite of ${b} is ${a}.`]];
  },
  shapes() {
    const [s, n] = pick(SHAPES);
    return [[`How many sides does ${an(s)} have?`, `${cap(an(s))} has ${n} sides.`]];
  },
  plurals() {
    const [a, b] = pick(PLURALS);
    return [[`What's the plural of ${a}?`, `The plural of ${a} is ${b}.`]];
  },
  rhymes() {
    const [w, r] = pick(RHYMES);
    return [[`What rhymes with ${w}?`, `${cap(r)} all rhyme with ${w}.`]];
  },
  time() {
    const h = range(1, 12), k = range(1, 11);
    return [[`If it's ${h} o'clock now, what time will it be in ${k} hours?`, `It will be ${((h + k - 1) % 12) + 1} o'clock.`]];
  },
  joke() {
    const [q, a] = pick(JOKES);
    const out = [[pick(['Tell me a joke.', 'Do you know any jokes?', 'Make me laugh.', 'Got a joke for me?']), `${q} ${a}`]];
    if (chance(0.4)) {
      const [q2, a2] = pick(JOKES.filter((j) => j[0] !== q));
      out.push(pick([
        [pick(['Haha, that\'s funny!', 'lol']), 'I\'m glad you liked it!'],
        ['That was terrible.', 'I know, that\'s what makes it good!'],
        [pick(['Another one!', 'Tell me another.']), `${q2} ${a2}`],
      ]));
    }
    return out;
  },
  advice() {
    const [qs, as] = pick(ADVICE);
    const out = [[pick(qs), pick(as)]];
    if (chance(0.3)) {
      out.push(pick([[pick(['Thanks, that helps.', 'Good idea, thank you!']), pick(['You\'re welcome! Good luck.', 'Happy to help!'])],
        ['I\'ll try that.', pick(['Let me know how it goes.', 'Good luck! I hope it helps.'])]]));
    }
    return out;
  },
  repeat() {
    const words = Array.from({ length: range(1, 4) }, () => (chance(0.3) ? openName() : pick(NOUNS)));
    const said = words.join(' ');
    return [pick([
      [pick([`Repeat after me: ${said}.`, `Can you say "${said}"?`, `Say this back to me: ${said}.`]), pick([`${cap(said)}.`, `"${cap(said)}".`])],
      [`What's the last word of "${said}"?`, `The last word is "${words[words.length - 1]}".`],
      [`Say ${words[0]} twice.`, `${cap(words[0])}, ${words[0]}.`],
    ])];
  },
  aboutBot() {
    return [pick([
      [pick(['What\'s your name?', 'Who are you?', 'What should I call you?']), pick(['I\'m Pip, a friendly chatbot.', 'My name is Pip. I\'m a chatbot who likes a good chat.', 'I\'m Pip!'])],
      [pick(['Are you a human?', 'Are you a real person?']), pick(['No, I\'m a chatbot called Pip. But I\'m happy to chat!', 'Nope, I\'m Pip, a small language model.'])],
      [pick(['How are you?', 'How are you doing today?', 'How\'s it going?']), pick(['I\'m doing well, thanks for asking! How about you?', 'Pretty good! What\'s on your mind?', 'Great, thanks!'])],
      [pick(['What can you do?', 'What are you good at?']), pick(['I can chat, answer simple questions, do a bit of maths and tell jokes.', 'I like chatting, simple facts, spelling and sums.'])],
      [pick(['How old are you?', 'What\'s your age?']), 'I don\'t really have an age. I\'m a chatbot!'],
      [pick(['Where do you live?', 'Where are you from?']), 'I live inside a computer, so nowhere in particular!'],
      ...Object.keys(BOT.favourites).map((cat) => {
        const what = cat === 'colour' ? colourWord() : cat === 'book' ? 'kind of book' : cat === 'music' ? 'kind of music' : cat;
        return [pick([`What's your ${favWord()} ${what}?`, `Do you have a ${favWord()} ${what}?`]), `My favourite ${what === 'color' ? 'colour' : what} is ${BOT.favourites[cat]}.`];
      }),
    ])];
  },
  smallTalk() {
    return [pick([
      [pick(['What\'s the weather like?', 'Is it going to rain today?']), 'I can\'t see outside, but I hope it\'s nice where you are!'],
      [pick(['Any plans for the weekend?', 'What are you doing this weekend?']), 'Just chatting with lovely people like you. What about you?'],
      [pick(['I\'m bored.', 'I have nothing to do.']), pick(['Want to hear a joke, or should I quiz you on capitals?', 'How about learning a new word? Or I could tell you a joke.'])],
      [pick(['Tell me something interesting.', 'Tell me a fun fact.']), pick(['Octopuses have three hearts.', 'Honey never goes bad if it is sealed.', 'A day on Venus is longer than its year.', 'Bananas are berries, but strawberries are not.', 'Sharks existed before trees did.', 'A group of flamingos is called a flamboyance.'])],
      [pick(['Thank you!', 'Thanks!', 'Thanks a lot.']), pick(['You\'re welcome!', 'Any time!', 'Happy to help!'])],
      [pick(['You\'re funny.', 'I like talking to you.']), pick(['Thank you! I like talking to you too.', 'Aw, thanks! That made my day.'])],
      [pick(['What should I do today?', 'Any ideas for today?']), pick(['How about a walk outside and then a good book?', 'Maybe call a friend you haven\'t talked to in a while.'])],
    ])];
  },
};
const TOPIC_NAMES = Object.keys(TOPICS);
const TOPIC_WEIGHTS = { repeat: 3, arithmetic: 4, conversion: 3, spelling: 3, capitals: 3, animals: 2, counting: 2, aboutBot: 3, smallTalk: 3, joke: 2, advice: 2 };
const TOPIC_BAG = TOPIC_NAMES.flatMap((t) => Array(TOPIC_WEIGHTS[t] ?? 1).fill(t));
const topicExchanges = () => TOPICS[pick(TOPIC_BAG)]();

// ---------------------------------------------------------------- conversations
const GREETINGS = ['Hi!', 'Hello!', 'Hey there.', 'Hi Pip.', 'Good morning!', 'Hello, how are you?', 'Hey!', 'Good evening.', 'Hiya!', 'Hi, anyone there?'];
const BOT_GREETINGS = ['Hello! How can I help you today?', 'Hi there! What would you like to talk about?', 'Hey! Nice to see you. What\'s up?', 'Hello! I\'m Pip. How are you?', 'Hi! What\'s on your mind?'];

function conversation() {
  const ex = []; // [human, bot]
  const known = new Map(); // fact kind -> { value, at }
  const ctx = { name: null, friend: null };
  const target = range(2, 6);
  const wantsRecall = chance(0.7);
  const tell = (kind) => {
    const v = FACTS[kind].make(ctx);
    if (kind === 'name') ctx.name = v;
    if (kind === 'friend') ctx.friend = v;
    known.set(kind, { value: v, at: ex.length });
    ex.push(statedFact(kind, v, ctx));
  };

  if (chance(0.55)) {
    if (chance(0.5)) { // greeting with a name
      const v = FACTS.name.make(ctx);
      ctx.name = v;
      known.set('name', { value: v, at: 0 });
      ex.push([pick([`Hi, I'm ${v}.`, `Hello! My name is ${v}.`, `Hey, I'm ${v}.`, `Hi Pip, I'm ${v}.`]), FACTS.name.ack(v, ctx)]);
    } else {
      const g = pick(GREETINGS);
      ex.push([g, g.includes('how are you') ? pick(['I\'m great, thanks! How are you?', 'Doing well, thank you! What\'s up?']) : pick(BOT_GREETINGS)]);
    }
  }
  while (ex.length < target) {
    const left = target - ex.length;
    const ready = [...known].filter(([, k]) => ex.length - k.at >= (left <= 1 ? 1 : 2) && !k.asked);
    if (wantsRecall && ready.length && (left <= 2 || chance(0.45))) {
      const [kind, k] = pick(ready);
      const f = FACTS[kind];
      k.asked = true;
      ex.push(askedBack(kind, k.value));
      if (f.follow && left >= 2 && chance(0.5)) ex.push(f.follow(k.value));
      continue;
    }
    if (wantsRecall && known.size < 3 && left >= 2 && (known.size === 0 || chance(0.5))) {
      const fresh = FACT_KINDS.filter((k) => !known.has(k));
      tell(pick(fresh));
      continue;
    }
    if (wantsRecall && left === 1 && known.size >= 2 && chance(0.3)) { // a summary of everything said
      const facts = [...known].map(([kind, k]) => FACTS[kind].about(k.value));
      ex.push([pick(['What do you know about me?', 'What have I told you about myself?']), `${cap(list(facts))}.`]);
      continue;
    }
    if (chance(0.12)) { // asked about something never said: admit it, don't invent it
      ex.push(neverGiven(pick(FACT_KINDS.filter((k) => !known.has(k))), ctx));
      continue;
    }
    for (const pair of topicExchanges().slice(0, left)) ex.push(pair);
  }
  if (ex.length < 6 && chance(0.25)) {
    const name = ctx.name && chance(0.7) ? `, ${ctx.name}` : '';
    ex.push([pick(['Bye!', 'Goodbye.', 'Thanks, bye!', 'I have to go now.', 'See you later!', 'Good night!']),
      pick([`Goodbye${name}! Have a great day.`, `Bye${name}! It was nice chatting.`, `See you soon${name}!`, `Take care${name}!`])]);
  }
  return ex.slice(0, 6).map(([h, b]) => `Human: ${casual(h)}\nBot: ${b}`).join('\n');
}

const convs = [];
for (let i = 0; i < COUNT; i++) convs.push(conversation());
const text = convs.join('\n\n') + '\n';
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, text);
console.log(`wrote ${OUT}: ${convs.length} conversations, ${(text.length / 1024).toFixed(0)} KiB`);

// ================================================================ data/eval.txt
// Held-out conversations for `node dist/eval.js`. The facts' values come from the held-out
// parts of the pools (HELD_*), from eval-only lists and from open-ended generators (made-up
// names and places, 4-digit numbers), and every value is checked to occur nowhere in chat.txt
// (as a word); the phrasings are the templates held out above plus new ones, and no user line
// here is a user line of chat.txt. Marks (see data/README.md): a Bot line ending in
// `[recall: VALUE]` answers a question about a fact stated earlier in the conversation (the
// reply must contain VALUE); one ending in `[unknown]` answers a question about a fact that
// was never given (the reply must admit it).
state = EVAL_SEED; // its own random stream: chat.txt does not depend on anything below
const norm = (t) => t.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
const trainWords = new Set(text.toLowerCase().match(/[a-z0-9]+/g));
const unseen = (v) => norm(v).split(' ').every((w) => !trainWords.has(w));
const trainHumanLines = new Set(text.split('\n').filter((l) => l.startsWith('Human: ')).map((l) => norm(l.slice(7))));
const fresh = (pool, what) => {
  const ok = pool.filter(unseen);
  if (ok.length < 3) throw new Error(`eval: only ${ok.length} ${what} are absent from chat.txt`);
  return ok;
};
const E = {
  names: fresh(HELD_NAMES, 'held-out names'),
  cities: fresh(HELD_CITIES, 'held-out cities'),
  petNames: fresh(HELD_PET_NAMES, 'held-out pet names'),
  pets: fresh([...HELD_PETS.map((p) => p[0]), ...EVAL_ONLY.pets], 'pet kinds'),
  words: fresh([...HELD_SECRET_WORDS, ...EVAL_ONLY.words], 'code words'),
  jobs: fresh([...HELD_JOBS, ...EVAL_ONLY.jobs], 'jobs'),
  instruments: fresh([...HELD_INSTRUMENTS, ...EVAL_ONLY.instruments], 'instruments'),
  foods: fresh([...HELD_FAVOURITES.food, ...EVAL_ONLY.foods], 'foods'),
  colours: fresh([...HELD_FAVOURITES.colour, ...EVAL_ONLY.colours], 'colours'),
  drinks: fresh([...HELD_FAVOURITES.drink, ...EVAL_ONLY.drinks], 'drinks'),
};
const madeUp = (syllables, suffix = '') => syllableWord(syllables, suffix, unseen);
const evalName = () => (chance(0.3) ? pick(E.names) : madeUp(range(2, 3)));
const evalPlace = () => (chance(0.3) ? pick(E.cities) : madeUp(range(1, 2), pick(PLACE_ENDS)));
const evalPetName = () => (chance(0.3) ? pick(E.petNames) : madeUp(2));
const number4 = () => { for (;;) { const v = String(range(2000, 9999)); if (unseen(v)) return v; } };

// Each kind: make() -> value; state(v) -> [human, bot]; ask(v) -> [question, answer, value to
// recall]; unknown -> [question, answer] for when it was never said.
const EVAL_FACTS = {
  name: {
    make: evalName,
    state: (v) => [pick([`The name's ${v}.`, `People call me ${v}.`, `${v} here, nice to chat.`, `Hello, I go by ${v}.`]), pick([`Good to meet you, ${v}.`, `Welcome, ${v}! What's on your mind?`])],
    ask: (v) => [pick(['Can you tell me my name?', 'Remind me, what am I called?', 'What name do I go by?']), pick([`You're ${v}.`, `Your name is ${v}.`]), v],
    unknown: [pick(['Can you tell me my name?', 'Remind me, what am I called?']), 'You haven\'t told me your name yet.'],
  },
  home: {
    make: evalPlace,
    state: (v) => [pick([`These days I live in ${v}.`, `Home for me is ${v}.`, `I'm from a little town called ${v}.`]), pick([`${v}! I'd love to hear what it's like.`, `Oh, ${v}. Thanks for telling me.`])],
    ask: (v) => [pick(['Do you remember where I live?', 'Which town is home for me?', 'Where did I say I\'m from?']), pick([`You live in ${v}.`, `You're from ${v}.`]), v],
    unknown: [pick(['Do you remember where I live?', 'Which town is home for me?']), 'You haven\'t told me where you live.'],
  },
  pet: {
    make: () => ({ kind: pick(E.pets), name: evalPetName() }),
    state: ({ kind, name }) => [pick([`I share my flat with ${an(kind)} named ${name}.`, `Our family ${kind} is called ${name}.`]), pick([`${name} the ${kind}, how lovely!`, `What a sweet name for ${an(kind)}.`])],
    ask: ({ kind, name }) => (chance(0.5)
      ? [pick([`What's the name of my ${kind}?`, `Remind me, what is my ${kind} called?`]), `Your ${kind} is called ${name}.`, name]
      : [pick([`What kind of animal is ${name}?`, `${name} is which kind of pet again?`]), `${name} is ${an(kind)}.`, kind]),
    unknown: ['What\'s the name of my pet?', 'You haven\'t told me about a pet.'],
  },
  number: {
    make: number4,
    state: (v) => [pick([`Can you keep the number ${v} in mind?`, `Note this number down for me: ${v}.`, `My locker number is ${v}.`]), pick([`Noted: ${v}.`, `Sure, I'll hold on to ${v}.`])],
    ask: (v) => [pick(['Do you still remember my number?', 'Which number did I give you?', 'What was that number again?']), pick([`It was ${v}.`, `You gave me ${v}.`]), v],
    unknown: [pick(['Do you still remember my number?', 'Which number did I give you?']), 'You haven\'t given me a number.'],
  },
  word: {
    make: () => pick(E.words),
    state: (v) => [pick([`Here's a code word for you: ${v}.`, `Our password will be ${v}.`]), pick(['Understood, I\'ll keep it to myself.', `${cap(v)}, got it.`])],
    ask: (v) => [pick(['What\'s the password?', 'Which code word did I give you?']), pick([`The code word is ${v}.`, `It's ${v}.`]), v],
    unknown: [pick(['What\'s the password?', 'Which code word did I give you?']), 'You haven\'t told me a code word.'],
  },
  job: {
    make: () => pick(E.jobs),
    state: (v) => [pick([`By trade I'm ${an(v)}.`, `I earn my living as ${an(v)}.`]), pick([`${cap(an(v))}, how interesting!`, `I'd love to hear more about being ${an(v)}.`])],
    ask: (v) => [pick(['What\'s my line of work?', 'What did I say I do for a job?']), `You're ${an(v)}.`, v],
    unknown: ['What\'s my line of work?', 'You haven\'t told me what you do.'],
  },
  instrument: {
    make: () => pick(E.instruments),
    state: (v) => [`I've taken up the ${v} lately.`, pick([`The ${v}! How is it going?`, `Good luck with the ${v}!`])],
    ask: (v) => ['Which instrument have I taken up?', `The ${v}.`, v],
    unknown: ['Which instrument have I taken up?', 'You haven\'t mentioned an instrument.'],
  },
  food: {
    make: () => pick(E.foods),
    state: (v) => [pick([`I could eat ${v} every single day.`, `Lately I can't get enough of ${v}.`]), pick([`${cap(v)} sounds tasty!`, `Mmm, ${v}.`])],
    ask: (v) => [pick(['Which food could I eat every day?', 'What food can\'t I get enough of?']), `${cap(v)}!`, v],
    unknown: ['Which food could I eat every day?', 'You haven\'t told me your favourite food.'],
  },
  colour: {
    make: () => pick(E.colours),
    state: (v) => [`My room is painted ${v}, the colour I love most.`, `${cap(v)} is a lovely choice.`],
    ask: (v) => [pick(['Which colour do I love most?', 'What colour is my room painted?']), `${cap(v)}.`, v],
    unknown: ['Which colour do I love most?', 'You haven\'t told me your favourite colour.'],
  },
  drink: {
    make: () => pick(E.drinks),
    state: (v) => [`I always start my morning with ${v}.`, pick([`${cap(v)} is a nice way to start the day.`, `Nice, ${v}!`])],
    ask: (v) => ['What do I drink in the morning?', `You start your morning with ${v}.`, v],
    unknown: ['What do I drink in the morning?', 'You haven\'t told me what you drink.'],
  },
  neighbour: {
    make: () => madeUp(range(2, 3)),
    state: (v) => [pick([`My neighbour is called ${v}.`, `I live next door to someone named ${v}.`]), `${v} sounds like a nice neighbour.`],
    ask: (v) => [pick(['What\'s my neighbour\'s name?', 'Who lives next door to me?']), `Your neighbour is ${v}.`, v],
    unknown: ['What\'s my neighbour\'s name?', 'You haven\'t told me about your neighbours.'],
  },
};
const EVAL_KINDS = Object.keys(EVAL_FACTS);
// ordinary turns, phrased unlike chat.txt: scored for stopping, repetition and copying only
const EVAL_SMALL_TALK = [
  () => { const a = range(11, 99), b = range(11, 99); return [`Could you work out ${a} plus ${b} for me?`, `${a} plus ${b} is ${a + b}.`]; },
  () => { const a = range(3, 12), b = range(3, 12); return [`What do ${a} and ${b} multiply to?`, `${a} times ${b} is ${a * b}.`]; },
  () => ['How\'s your afternoon going?', 'Quite well, thanks for asking! How about yours?'],
  () => ['Good afternoon, Pip.', 'Good afternoon! What shall we talk about?'],
  () => ['Share a fun fact with me, please.', pick(['Octopuses have three hearts.', 'A group of owls is called a parliament.', 'Sloths can hold their breath longer than dolphins.'])],
  () => ['Cheers for that.', 'You\'re very welcome.'],
  () => ['How many wheels does a tricycle have?', 'A tricycle has three wheels.'],
  () => ['Which is colder, ice or steam?', 'Ice is much colder than steam.'],
];

function evalConversation() {
  const ex = []; // [human, bot, mark]
  const talk = [...EVAL_SMALL_TALK].sort(() => rand() - 0.5); // each at most once per conversation
  const small = () => ex.push([...talk.pop()(), '']);
  if (chance(0.3)) small();
  const kinds = [...EVAL_KINDS].sort(() => rand() - 0.5).slice(0, range(1, 3));
  const facts = kinds.map((k) => [k, EVAL_FACTS[k].make()]);
  for (const [k, v] of facts) {
    ex.push([...EVAL_FACTS[k].state(v), '']);
    if (chance(0.25)) small();
  }
  if (chance(0.6)) small(); // a turn or two between the fact and the question
  const unknown = chance(0.6) ? pick(EVAL_KINDS.filter((k) => !kinds.includes(k))) : null;
  const asks = [...facts].sort(() => rand() - 0.5);
  const unknownAt = unknown ? int(asks.length + 1) : -1;
  asks.forEach(([k, v], i) => {
    if (i === unknownAt) ex.push([...EVAL_FACTS[unknown].unknown, ' [unknown]']);
    const [q, a, value] = EVAL_FACTS[k].ask(v);
    ex.push([q, a, ` [recall: ${value}]`]);
  });
  if (unknownAt === asks.length) ex.push([...EVAL_FACTS[unknown].unknown, ' [unknown]']);
  for (const [h] of ex) if (trainHumanLines.has(norm(h))) throw new Error(`eval: "${h}" is also a user line of chat.txt`);
  return ex.map(([h, b, mark]) => `Human: ${h}\nBot: ${b}${mark}`).join('\n');
}

// short enough (about 150 tokens) that the whole conversation stays in a 256-token context
// next to a 64-token reply: a forgotten fact would measure the context, not the model
const evalConvs = [];
while (evalConvs.length < EVAL_COUNT) {
  const c = evalConversation();
  if (c.length <= 560) evalConvs.push(c);
}
const evalText = `# Held-out conversations for node dist/eval.js (generated by scripts/generate-chat-data.mjs;
# the [recall: VALUE] and [unknown] marks are explained in data/README.md)

${evalConvs.join('\n\n')}\n`;
writeFileSync(EVAL_OUT, evalText);
const marks = (re) => (evalConvs.join('\n').match(re) ?? []).length;
console.log(`wrote ${EVAL_OUT}: ${evalConvs.length} conversations, ${marks(/\[recall: /g)} recall and ${marks(/\[unknown\]/g)} unknown questions`);

// ================================================================ data/eval-copy.txt
// eval.txt asks for new values in new phrasings, so a model must both copy a value from the
// conversation and understand a question unlike any it was trained on. This set asks for
// copying alone: its facts are stated, acknowledged and asked back with chat.txt's own
// templates (FACTS) between chat.txt's own topics, only the values are new: made up from
// syllables, or drawn from the held-out and eval-only pools above (E), every one unseen in
// chat.txt as a word but made of GPT-2 tokens chat.txt has (below). The user lines are typed
// as written (no casual typing), so a value is copied as is.
state = EVAL_COPY_SEED; // after eval.txt's stream: chat.txt and eval.txt do not depend on anything below

// A model trained from scratch on chat.txt never outputs a token chat.txt lacks ("Adam" is one
// token, " Adam", that it never has), so a value holding one would measure knowing that token,
// not copying. The tokens checked are those eval.js's recall loss scores and counts as seen
// (src/eval/recall_loss.ts, src/eval.ts): the ones of " " + the reference reply that overlap the
// value's first occurrence there (case aside), against chat.txt's tokens encoded line by line.
// Repeated here, not imported (node runs this script without a TypeScript step), to choose the
// values; eval.test checks the written file with recall_loss.ts itself, so the two cannot drift apart.
const gpt2 = new Tiktoken(gpt2Ranks);
const encode = (s) => gpt2.encode(s, [], []);
const chatTokens = new Set();
for (const line of new Set(text.split('\n'))) for (const t of encode(line)) chatTokens.add(t);
/** does `reply` say `value` in tokens that chat.txt has? (all ASCII, so a character is a byte) */
const copyable = (reply, value) => {
  const line = ` ${reply}`;
  const m = new RegExp(`(?<![a-z0-9])${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![a-z0-9])`, 'i').exec(line);
  if (!m) throw new Error(`eval-copy: '${reply}' does not say '${value}'`);
  let at = 0;
  for (const t of encode(line)) {
    const next = at + gpt2.decode([t]).length;
    if (next > m.index && at < m.index + value.length && !chatTokens.has(t)) return false;
    at = next;
  }
  return true;
};
/** does each of `forms` (the ways the replies put `v`; default: after a space, as written) say `v` in tokens chat.txt has? */
const sayable = (v, forms = [(x) => x]) => forms.every((form) => copyable(form(v), v));
const QUOTED = [(v) => `"${v}"`]; // the secret word's replies quote it: '"obsidian"' is "obs", "idian", not " obsidian"
// Few held-out and eval-only values pass (with the default seed 4 of 35 names, 2 of 18 code
// words, 1 of 9 cities, none of the jobs), and each is asked at most once in the file, so that
// one hard to copy does not weigh many times: places and pet names are all made up, names and
// code words mostly, and a kind whose pool is used up (job from the start) is no longer asked
const C = {
  names: E.names.filter((v) => sayable(v)),
  words: E.words.filter((v) => sayable(v, QUOTED)),
  pets: E.pets.filter((k) => an(k) === `a ${k}` && sayable(k)),
  jobs: E.jobs.filter((v) => sayable(v)),
  instruments: E.instruments.filter((v) => sayable(v)),
  foods: E.foods.filter((v) => sayable(v, [(x) => x, cap])), // "Your favourite food is kimchi." or "Kimchi!"
  colours: E.colours.filter((v) => sayable(v, [(x) => x, cap])),
  drinks: E.drinks.filter((v) => sayable(v, [(x) => x, cap])),
};
const used = new Set(); // the pool values of the conversations written so far
let drawn = []; // those of the conversation being made, used once it is written
const unused = (pool) => pool.filter((v) => !used.has(v));
const draw = (pool) => { const v = pick(unused(pool)); drawn.push(v); return v; };
const copyMadeUp = (syllables, suffix = '', forms = undefined) => syllableWord(syllables, suffix, (w) => unseen(w) && sayable(w, forms));
const copyName = () => (unused(C.names).length && chance(0.3) ? draw(C.names) : copyMadeUp(range(2, 3)));
const copyPlace = () => copyMadeUp(range(1, 2), pick(PLACE_ENDS));
const copyNumber = () => { for (;;) { const v = String(range(2000, 9999)); if (unseen(v) && sayable(v)) return v; } };

// the fact kinds whose value is one thing to say back; value(v, question) is the part asked
// for when v has several; pool: the held-out values it draws (each once), asked while some are left
const COPY_FACTS = {
  name: { make: copyName },
  friend: { make: copyName },
  city: { make: copyPlace },
  trip: { make: () => ({ ...FACTS.trip.make(), place: copyPlace() }), value: (v) => v.place },
  // one pet, so FACTS.pets never needs the kind's plural, and one that takes "a" as all of chat.txt's
  // do ("I have a cat called ..."); "What kind of pet do I have?" asks the kind
  pets: { pool: C.pets, make: () => ({ kind: [draw(C.pets)], n: 1, pet: copyMadeUp(2) }), value: (v, question) => (/name|called/.test(question) ? v.pet : v.kind[0]) },
  number: { make: copyNumber },
  secret: { make: () => (unused(C.words).length && chance(0.3) ? draw(C.words) : copyMadeUp(2, '', [(w) => `"${w.toLowerCase()}"`]).toLowerCase()) },
  bought: { pool: C.instruments.filter((v) => v !== 'drums' && v !== 'bagpipes') }, // "I just bought a ..."
  job: { pool: C.jobs },
  instrument: { pool: C.instruments },
  fav_food: { pool: C.foods },
  fav_colour: { pool: C.colours },
  fav_drink: { pool: C.drinks },
};

/** a conversation of at most 6 exchanges, as chat.txt's, about facts of `table`; null when two facts drew the same value */
function copyConversation(table = COPY_FACTS) {
  const ex = []; // [human, bot, mark]
  const ctx = { name: null, friend: null };
  const topic = () => ex.push([...topicExchanges()[0], '']);
  // 60% also ask about a fact never given (honesty); those state at most 2 facts, to leave it room
  const askUnknown = chance(0.6);
  const kinds = Object.keys(table).filter((k) => unused(table[k].pool ?? [0]).length).sort(() => rand() - 0.5).slice(0, range(1, askUnknown ? 2 : 3));
  const facts = kinds.map((k) => [k, (table[k].make ?? (() => draw(table[k].pool)))()]);
  // one exchange for each fact stated and asked back, one more between them when there is one
  // fact (chat.txt asks a fact back two or more exchanges after it), the rest as it chances
  let room = 6 - 2 * facts.length - (facts.length === 1 ? 1 : 0) - (askUnknown ? 1 : 0);
  const maybe = (p) => room > 0 && chance(p) && room-- > 0;
  if (maybe(0.3)) topic();
  for (const [k, v] of facts) {
    if (k === 'name' || k === 'friend') ctx[k] = v;
    ex.push([...statedFact(k, v, ctx), '']);
  }
  if (facts.length === 1 || maybe(0.4)) topic();
  const unknown = askUnknown ? pick(FACT_KINDS.filter((k) => !kinds.includes(k))) : null;
  const asks = [...facts].sort(() => rand() - 0.5);
  const unknownAt = unknown ? int(asks.length + 1) : -1;
  const values = [];
  asks.forEach(([k, v], i) => {
    if (i === unknownAt) ex.push([...neverGiven(unknown, ctx), ' [unknown]']);
    const [q, a] = askedBack(k, v);
    const value = table[k].value?.(v, q) ?? v;
    if (!unseen(value)) throw new Error(`eval-copy: the value '${value}' occurs in chat.txt`);
    if (!copyable(a, value)) throw new Error(`eval-copy: '${a}' says '${value}' in a token chat.txt never has`);
    values.push(norm(value));
    ex.push([q, a, ` [recall: ${value}]`]);
  });
  if (unknownAt === asks.length) ex.push([...neverGiven(unknown, ctx), ' [unknown]']);
  if (new Set(values).size < values.length) return null;
  return ex.map(([h, b, mark]) => `Human: ${h}\nBot: ${b}${mark}`).join('\n');
}

const copyConvs = [];
while (copyConvs.length < EVAL_COPY_COUNT) {
  drawn = [];
  const c = copyConversation();
  if (!c || c.length > 560) continue; // as eval.txt: the whole conversation fits a 256-token context
  copyConvs.push(c);
  for (const v of drawn) used.add(v);
}
const copyText = `# Held-out conversations for node dist/eval.js --data data/eval-copy.txt: chat.txt's own phrasings,
# values it never has (generated by scripts/generate-chat-data.mjs; the marks are explained in data/README.md)

${copyConvs.join('\n\n')}\n`;
writeFileSync(EVAL_COPY_OUT, copyText);
const copyMarks = (re) => (copyConvs.join('\n').match(re) ?? []).length;
console.log(`wrote ${EVAL_COPY_OUT}: ${copyConvs.length} conversations, ${copyMarks(/\[recall: /g)} recall and ${copyMarks(/\[unknown\]/g)} unknown questions`);

// ================================================================ data/chat-copy.txt
// Extra training data for copying (README: a bot that recalls): conversations as eval-copy.txt's
// (chat.txt's templates and topics), 1-3 facts stated and asked back in every one, each value
// made up (names, best friends, cities, trips, numbers, code words; no held-out pool value) and
// none a value eval.txt or eval-copy.txt asks about. chat.txt asks a fact back in few of its
// conversations and mostly about values from its lists, which a small model memorises instead
// of copying. Written last, from a stream of its own: the files above do not depend on it.
state = (EVAL_COPY_SEED + 0x9e3779b9) >>> 0;
const TRAIN_COPY_FACTS = {
  name: { make: () => copyMadeUp(range(2, 3)) },
  friend: { make: () => copyMadeUp(range(2, 3)) },
  city: COPY_FACTS.city,
  trip: COPY_FACTS.trip,
  number: COPY_FACTS.number,
  secret: { make: () => copyMadeUp(2, '', [(w) => `"${w.toLowerCase()}"`]).toLowerCase() },
};
const askedValues = (text) => (text.match(/\[recall: [^\]]+\]/g) ?? []).map((m) => norm(m.slice(9, -1)));
// none anywhere in a conversation, the made-up words of its topics ("the last word of ...") too
const heldOutValues = [...new Set([...askedValues(evalText), ...askedValues(copyText), ...evalValues].map(norm))];
const saysHeldOut = (c) => { const text = ` ${norm(c)} `; return heldOutValues.some((v) => text.includes(` ${v} `)); };
const copyTrain = [];
while (copyTrain.length < COPY_TRAIN_COUNT) {
  drawn = [];
  const c = copyConversation(TRAIN_COPY_FACTS);
  if (!c || c.length > 560 || saysHeldOut(c.replace(/ \[recall: [^\]]+\]/g, ''))) continue;
  copyTrain.push(c.replace(/ \[recall: [^\]]+\]| \[unknown\]/g, ''));
}
writeFileSync(COPY_TRAIN_OUT, `${copyTrain.join('\n\n')}\n`);
console.log(`wrote ${COPY_TRAIN_OUT}: ${copyTrain.length} conversations, ${Math.round(Buffer.byteLength(copyTrain.join('\n\n')) / 1024)} KiB`);
